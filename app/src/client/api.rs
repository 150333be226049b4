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
    imp::create_job(spec).await
}

/// `POST /api/jobs/{id}/cancel`.
pub(crate) async fn cancel_job(id: JobId) -> Result<Job, ApiFailure> {
    imp::cancel_job(id).await
}

/// `POST /api/jobs/{id}/retry`: a new job with the same kind and params.
pub(crate) async fn retry_job(id: JobId) -> Result<Job, ApiFailure> {
    imp::retry_job(id).await
}

/// `GET /api/jobs`. `Send`, as resources need: in the browser, which has one thread,
/// the future is wrapped to say so.
pub(crate) fn list_jobs() -> impl Future<Output = Result<JobList, ApiFailure>> + Send {
    #[cfg(feature = "hydrate")]
    return send_wrapper::SendWrapper::new(imp::list_jobs());
    #[cfg(not(feature = "hydrate"))]
    imp::list_jobs()
}

#[cfg(feature = "hydrate")]
mod imp {
    use gloo_net::http::{Request, Response};
    use serde::de::DeserializeOwned;

    use super::ApiFailure;
    use crate::error::ErrorBody;
    use crate::job::{Job, JobId, JobList, JobSpec};

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

    pub(super) async fn create_job(spec: &JobSpec) -> Result<Job, ApiFailure> {
        let response = Request::post("/api/jobs")
            .json(spec)
            .map_err(transport)?
            .send()
            .await
            .map_err(transport)?;
        read(response).await
    }

    pub(super) async fn cancel_job(id: JobId) -> Result<Job, ApiFailure> {
        let response = Request::post(&format!("/api/jobs/{id}/cancel"))
            .send()
            .await
            .map_err(transport)?;
        read(response).await
    }

    pub(super) async fn retry_job(id: JobId) -> Result<Job, ApiFailure> {
        let response = Request::post(&format!("/api/jobs/{id}/retry"))
            .send()
            .await
            .map_err(transport)?;
        read(response).await
    }

    pub(super) async fn list_jobs() -> Result<JobList, ApiFailure> {
        let response = Request::get("/api/jobs").send().await.map_err(transport)?;
        read(response).await
    }
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::ApiFailure;
    use crate::job::{Job, JobId, JobList, JobSpec};

    fn browser_only() -> ApiFailure {
        ApiFailure::Transport("the API client runs only in the browser".into())
    }

    pub(super) async fn create_job(_: &JobSpec) -> Result<Job, ApiFailure> {
        Err(browser_only())
    }

    pub(super) async fn cancel_job(_: JobId) -> Result<Job, ApiFailure> {
        Err(browser_only())
    }

    pub(super) async fn retry_job(_: JobId) -> Result<Job, ApiFailure> {
        Err(browser_only())
    }

    pub(super) async fn list_jobs() -> Result<JobList, ApiFailure> {
        Err(browser_only())
    }
}
