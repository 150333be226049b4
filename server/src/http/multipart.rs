//! Reading a `multipart/form-data` job request: what a browser form with a file sends,
//! and what `curl -F kind=import -F file=@orders.csv` sends.
//!
//! Parts, in any order: `kind`; optionally `params` (a JSON object); any parameter by
//! its name as text (`-F level=9`); and files, by the name of the kind's file parameter.
//! Files are streamed to the uploads folder as they arrive (refused past the size
//! limit); if anything about the request is wrong, they are removed again and no job
//! is created.

use app::job::{FieldError, JobSpec};
use app::kind::{Input, KindInfo, ParamField, Upload};
use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartError};
use futures::StreamExt;
use serde_json::{Map, Value};

use super::AppState;
use super::error::ApiError;
use super::request::BodyBounds;
use crate::owner::Owner;
use crate::uploads::UploadError;

/// The most parts a job form may have (its kind, params, a few text parameters, files).
const MAX_PARTS: usize = 32;
/// The most bytes the text parts of a form may have together.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A file part, stored.
struct StoredFile {
    param: String,
    upload: Upload,
}

/// A job request read from a form, checked against its kind and with its files stored.
pub(super) struct FormRequest {
    pub(super) spec: JobSpec,
    pub(super) title: String,
    pub(super) uploads: Vec<Upload>,
}

/// Reads the form (its body within `bounds`). On any error the files it
/// stored are removed again.
pub(super) async fn read_job_form(
    state: &AppState,
    owner: &Owner,
    form: Multipart,
    bounds: BodyBounds,
) -> Result<FormRequest, ApiError> {
    let mut files = Vec::new();
    let result = read_parts(state, owner, form, bounds, &mut files).await;
    if result.is_err() {
        let stored: Vec<Upload> = files.into_iter().map(|f| f.upload).collect();
        state.uploads.remove_all(owner, &stored).await;
    }
    result
}

/// The parts of a form, as they came.
#[derive(Default)]
struct Parts {
    /// The kind, once its part has come: files are refused until it has.
    kind: Option<KindInfo>,
    params: Option<String>,
    /// Parameters sent as text, by name.
    texts: Vec<(String, String)>,
    count: usize,
    text_bytes: usize,
}

impl Parts {
    /// Counts one more part, refusing one too many.
    fn count(&mut self) -> Result<(), ApiError> {
        self.count += 1;
        if self.count > MAX_PARTS {
            return Err(ApiError::MalformedForm(format!(
                "a job form has at most {MAX_PARTS} parts"
            )));
        }
        Ok(())
    }
}

async fn read_parts(
    state: &AppState,
    owner: &Owner,
    mut form: Multipart,
    bounds: BodyBounds,
    files: &mut Vec<StoredFile>,
) -> Result<FormRequest, ApiError> {
    let mut parts = Parts::default();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| body_failure(e, bounds))?
    {
        parts.count()?;
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_some() {
            let param = file_param(parts.kind.as_ref(), &name, files)?;
            check_content_type(param, field.content_type())?;
            let file = store_file(state, owner, name, field, bounds).await?;
            let empty = file.upload.bytes == 0;
            let file_name = file.upload.name.clone();
            files.push(file);
            if empty {
                return Err(invalid_param(
                    &param.name,
                    format!("the file {file_name} is empty"),
                ));
            }
            continue;
        }
        let budget = MAX_TEXT_BYTES - parts.text_bytes;
        let text = read_text(field, budget, bounds).await?;
        parts.text_bytes += text.len();
        match name.as_str() {
            "kind" if parts.kind.is_some() => return Err(sent_twice("kind")),
            "kind" => parts.kind = Some(kind(state, Some(text))?),
            "params" if parts.params.is_some() => return Err(sent_twice("params")),
            "params" => parts.params = Some(text),
            _ => {
                // Checked as it comes when the kind is known (else once it is).
                if let Some(info) = &parts.kind {
                    declared(info, &name)?;
                }
                parts.texts.push((name, text));
            }
        }
    }
    let info = match parts.kind {
        Some(info) => info,
        None => kind(state, None)?,
    };
    let mut params = params_object(parts.params)?;
    // A file comes only as a file part of this request: never as JSON that names a
    // stored upload (someone else's, perhaps).
    if let Some(file) = info
        .params
        .iter()
        .find(|p| matches!(p.input, Input::File { .. }) && params.contains_key(&p.name))
    {
        return Err(invalid_param(
            &file.name,
            "must be a file part of this request (-F file=@name), not named in params",
        ));
    }
    for (name, text) in parts.texts {
        let param = declared(&info, &name)?;
        match param.parse_text(&text) {
            Ok(Some(value)) => {
                params.insert(name, value);
            }
            Ok(None) => {}
            Err(message) => return Err(invalid_param(&name, message)),
        }
    }
    for file in files.iter() {
        let value = serde_json::to_value(&file.upload)
            .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        if params.insert(file.param.clone(), value).is_some() {
            return Err(sent_twice(&format!("params.{}", file.param)));
        }
    }
    let spec = JobSpec::new(info.name.clone(), Value::Object(params));
    let title = state.kinds.check(&spec)?;
    Ok(FormRequest {
        spec,
        title,
        uploads: files.iter().map(|f| f.upload.clone()).collect(),
    })
}

/// The file parameter a file part named `name` is for, checked before any of the file
/// is stored: the kind must be known by then, the parameter must take a file, and take
/// only one.
fn file_param<'k>(
    kind: Option<&'k KindInfo>,
    name: &str,
    files: &[StoredFile],
) -> Result<&'k ParamField, ApiError> {
    let info = kind.ok_or_else(|| {
        ApiError::InvalidField(FieldError::new(
            "kind",
            "must come before any file part (-F kind=… first)",
        ))
    })?;
    let param = declared(info, name)?;
    if !matches!(param.input, Input::File { .. }) {
        return Err(invalid_param(
            name,
            "is not a file parameter; send it as text",
        ));
    }
    if files.iter().any(|f| f.param == name) {
        return Err(sent_twice(&format!("params.{name}")));
    }
    Ok(param)
}

fn sent_twice(field: &str) -> ApiError {
    ApiError::InvalidField(FieldError::new(field, "was sent twice"))
}

/// The kind the `kind` part names.
fn kind(state: &AppState, kind: Option<String>) -> Result<KindInfo, ApiError> {
    let kind = kind.filter(|k| !k.trim().is_empty()).ok_or_else(|| {
        let known = state.kinds.names().collect::<Vec<_>>().join(", ");
        ApiError::InvalidField(FieldError::new(
            "kind",
            format!("is required (a form part named kind), one of: {known}"),
        ))
    })?;
    Ok(state.kinds.info(kind.trim())?)
}

/// The `params` part: a JSON object, if it was sent.
fn params_object(raw: Option<String>) -> Result<Map<String, Value>, ApiError> {
    match raw {
        None => Ok(Map::new()),
        Some(raw) => match super::request::strict_json(raw.as_bytes()) {
            Ok(Value::Object(params)) => Ok(params),
            _ => Err(ApiError::InvalidField(FieldError::new(
                "params",
                "must be a JSON object",
            ))),
        },
    }
}

/// The kind's parameter `name`, or why there is none.
fn declared<'k>(info: &'k KindInfo, name: &str) -> Result<&'k ParamField, ApiError> {
    info.params.iter().find(|p| p.name == name).ok_or_else(|| {
        invalid_param(
            name,
            format!("is not a parameter of the {} kind", info.name),
        )
    })
}

fn invalid_param(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidField(FieldError::new(format!("params.{name}"), message))
}

/// A file part's type must be one its parameter takes.
fn check_content_type(param: &ParamField, content_type: Option<&str>) -> Result<(), ApiError> {
    let Input::File { content_types, .. } = &param.input else {
        return Ok(());
    };
    let content_type = content_type.unwrap_or("application/octet-stream");
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !content_types.is_empty()
        && !content_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(essence))
    {
        return Err(ApiError::UnsupportedFileType {
            field: format!("params.{}", param.name),
            content_type: essence.chars().take(100).collect(),
            accepted: content_types.join(", "),
        });
    }
    Ok(())
}

async fn store_file(
    state: &AppState,
    owner: &Owner,
    param: String,
    field: Field<'_>,
    bounds: BodyBounds,
) -> Result<StoredFile, ApiError> {
    let name = field.file_name().unwrap_or_default().to_owned();
    // Why the body stopped, if it did: kept to answer with (a stall, the size limit).
    let mut failure = None;
    let chunks = field.map(|chunk| {
        chunk.map_err(|err| {
            let why = body_failure(err, bounds);
            let text = why.to_string();
            failure.get_or_insert(why);
            text
        })
    });
    let received = state
        .uploads
        .receive(owner, &name, chunks, state.upload_max_bytes)
        .await;
    let upload = received.map_err(|err| match err {
        UploadError::TooLarge { max } => ApiError::FileTooLarge {
            field: format!("params.{param}"),
            max,
        },
        UploadError::Incomplete(why) => failure.unwrap_or(ApiError::MalformedForm(why)),
        UploadError::Io(err) => ApiError::Internal(format!("storing an upload: {err}")),
    })?;
    Ok(StoredFile { param, upload })
}

/// A text part, within what is left of the text budget.
async fn read_text(
    mut field: Field<'_>,
    budget: usize,
    bounds: BodyBounds,
) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| body_failure(e, bounds))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > budget {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_TEXT_BYTES,
            });
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::InvalidField(FieldError::new(name, "is not valid UTF-8 text")))
}

/// Why reading the form failed: its body stalled, passed the size limit, or is not a
/// well-formed form.
fn body_failure(err: MultipartError, bounds: BodyBounds) -> ApiError {
    bounds
        .refusal(&err)
        .unwrap_or_else(|| ApiError::MalformedForm(err.body_text()))
}
