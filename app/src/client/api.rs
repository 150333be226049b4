//! Calls to the REST API from the browser (gloo-net over `fetch`).

use leptos::html::Input;
use leptos::prelude::NodeRef;

use crate::error::ErrorBody;
use crate::job::{Job, JobId, JobList, JobSpec};
use crate::paths;

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
    imp::call(Method::Post, paths::JOBS, Some(spec)).await
}

/// `POST /api/jobs` as `multipart/form-data`: starts a job with the file chosen in
/// `input` as its parameter `file_param`.
pub(crate) async fn create_job_with_file(
    spec: &JobSpec,
    file_param: &str,
    input: NodeRef<Input>,
) -> Result<Job, ApiFailure> {
    imp::post_form(spec, file_param, input).await
}

/// The name and size of the file chosen in `input`, if any.
pub(crate) fn chosen_file(input: NodeRef<Input>) -> Option<(String, u64)> {
    imp::chosen_file(input)
}

/// `POST /api/jobs/{id}/cancel`.
pub(crate) async fn cancel_job(id: JobId) -> Result<Job, ApiFailure> {
    imp::call(Method::Post, &paths::job_cancel(id), None).await
}

/// `POST /api/jobs/{id}/retry`: a new job with the same kind and params.
pub(crate) async fn retry_job(id: JobId) -> Result<Job, ApiFailure> {
    imp::call(Method::Post, &paths::job_retry(id), None).await
}

/// `GET /api/jobs?before=ID`: the next page of jobs older than `before`.
pub(crate) async fn older_jobs(before: JobId) -> Result<JobList, ApiFailure> {
    let path = format!("{}?limit={OLDER_PAGE}&before={before}", paths::JOBS);
    imp::call(Method::Get, &path, None).await
}

/// How many older jobs one "Show older jobs" lists.
const OLDER_PAGE: u32 = 100;

/// `GET /api/jobs`: the newest jobs.
pub(crate) async fn list_jobs() -> Result<JobList, ApiFailure> {
    imp::call(Method::Get, paths::JOBS, None).await
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
}

#[cfg(feature = "hydrate")]
mod imp {
    use gloo_net::http::{Request, Response};
    use leptos::html::Input;
    use leptos::prelude::{GetUntracked, NodeRef};
    use serde::de::DeserializeOwned;

    use super::{ApiFailure, Method};
    use crate::error::ErrorBody;
    use crate::job::JobSpec;
    use crate::paths;

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

    fn file_of(input: NodeRef<Input>) -> Option<web_sys::File> {
        input.get_untracked()?.files()?.get(0)
    }

    pub(super) fn chosen_file(input: NodeRef<Input>) -> Option<(String, u64)> {
        file_of(input).map(|file| (file.name(), file.size() as u64))
    }

    pub(super) async fn post_form<T: DeserializeOwned>(
        spec: &JobSpec,
        file_param: &str,
        input: NodeRef<Input>,
    ) -> Result<T, ApiFailure> {
        let js = |err: wasm_bindgen::JsValue| ApiFailure::Transport(format!("{err:?}"));
        let file =
            file_of(input).ok_or_else(|| ApiFailure::Transport("no file was chosen".to_owned()))?;
        let form = web_sys::FormData::new().map_err(js)?;
        form.append_with_str("kind", &spec.kind).map_err(js)?;
        form.append_with_str("params", &spec.params.to_string())
            .map_err(js)?;
        form.append_with_blob_and_filename(file_param, &file, &file.name())
            .map_err(js)?;
        let sent = Request::post(paths::JOBS)
            .body(form)
            .map_err(transport)?
            .send()
            .await;
        read(sent.map_err(transport)?).await
    }
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    use leptos::html::Input;
    use leptos::prelude::NodeRef;

    use super::{ApiFailure, Method};
    use crate::job::JobSpec;

    fn browser_only<T>() -> Result<T, ApiFailure> {
        Err(ApiFailure::Transport(
            "the API client runs only in the browser".into(),
        ))
    }

    pub(super) async fn call<T>(_: Method, _: &str, _: Option<&JobSpec>) -> Result<T, ApiFailure> {
        browser_only()
    }

    pub(super) async fn post_form<T>(
        _: &JobSpec,
        _: &str,
        _: NodeRef<Input>,
    ) -> Result<T, ApiFailure> {
        browser_only()
    }

    pub(super) fn chosen_file(_: NodeRef<Input>) -> Option<(String, u64)> {
        None
    }
}
