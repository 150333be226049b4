//! Calls to the REST API from the browser (gloo-net over `fetch`).

use crate::error::ErrorBody;
use crate::job::{Job, JobId, JobList, JobSpec};

/// Why an API call did not succeed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ApiFailure {
    /// The server answered with an error body.
    Api(ErrorBody),
    /// No usable answer: the network failed, or the answer was not what the API sends.
    Transport(String),
}

impl ApiFailure {
    pub(crate) fn message(&self) -> String {
        match self {
            ApiFailure::Api(body) => body.error.message.clone(),
            ApiFailure::Transport(reason) => format!("Could not reach the server: {reason}"),
        }
    }

    /// The request field the server blamed, if any (e.g. `params.steps`).
    pub(crate) fn field(&self) -> Option<&str> {
        match self {
            ApiFailure::Api(body) => body.error.field.as_deref(),
            ApiFailure::Transport(_) => None,
        }
    }
}

/// `POST /api/jobs`: starts a job.
pub(crate) async fn create_job(spec: &JobSpec) -> Result<Job, ApiFailure> {
    imp::call(Method::Post, "/api/jobs", Some(spec)).await
}

/// `POST /api/jobs/{id}/cancel`.
pub(crate) async fn cancel_job(id: JobId) -> Result<Job, ApiFailure> {
    imp::call(Method::Post, &format!("/api/jobs/{id}/cancel"), None).await
}

/// `POST /api/jobs/{id}/retry`: a new job with the same kind and params.
pub(crate) async fn retry_job(id: JobId) -> Result<Job, ApiFailure> {
    imp::call(Method::Post, &format!("/api/jobs/{id}/retry"), None).await
}

/// `GET /api/jobs`. `Send`, as resources need: in the browser, which has one thread,
/// the future is wrapped to say so.
pub(crate) fn list_jobs() -> impl Future<Output = Result<JobList, ApiFailure>> + Send {
    let call = imp::call(Method::Get, "/api/jobs", None);
    #[cfg(feature = "hydrate")]
    return send_wrapper::SendWrapper::new(call);
    #[cfg(not(feature = "hydrate"))]
    call
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
}

#[cfg(feature = "hydrate")]
mod imp {
    use gloo_net::http::{Request, Response};
    use serde::de::DeserializeOwned;

    use super::{ApiFailure, Method};
    use crate::error::ErrorBody;
    use crate::job::JobSpec;

    fn transport(err: gloo_net::Error) -> ApiFailure {
        ApiFailure::Transport(err.to_string())
    }

    async fn read<T: DeserializeOwned>(response: Response) -> Result<T, ApiFailure> {
        if response.ok() {
            response.json::<T>().await.map_err(transport)
        } else {
            match response.json::<ErrorBody>().await {
                Ok(body) => Err(ApiFailure::Api(body)),
                Err(_) => Err(ApiFailure::Transport(format!(
                    "the server answered {} {}",
                    response.status(),
                    response.status_text()
                ))),
            }
        }
    }

    /// Sends one request (with `body` as JSON, if any) and reads the answer.
    pub(super) async fn call<T: DeserializeOwned>(
        method: Method,
        url: &str,
        body: Option<&JobSpec>,
    ) -> Result<T, ApiFailure> {
        let request = match method {
            Method::Get => Request::get(url),
            Method::Post => Request::post(url),
        };
        let sent = match body {
            Some(body) => request.json(body).map_err(transport)?.send().await,
            None => request.send().await,
        };
        read(sent.map_err(transport)?).await
    }
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::{ApiFailure, Method};
    use crate::job::JobSpec;

    pub(super) async fn call<T>(_: Method, _: &str, _: Option<&JobSpec>) -> Result<T, ApiFailure> {
        Err(ApiFailure::Transport(
            "the API client runs only in the browser".into(),
        ))
    }
}
