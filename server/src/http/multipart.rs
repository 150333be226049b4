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
use axum::extract::multipart::Field;
use serde_json::{Map, Value};

use super::AppState;
use super::error::ApiError;
use crate::uploads::UploadError;

/// The most bytes a text part may have.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A file part, stored.
struct StoredFile {
    param: String,
    content_type: Option<String>,
    upload: Upload,
}

/// A job request read from a form, checked against its kind and with its files stored.
pub(super) struct FormRequest {
    pub(super) spec: JobSpec,
    pub(super) title: String,
    pub(super) uploads: Vec<Upload>,
}

/// Reads the form. On any error the files it stored are removed again.
pub(super) async fn read_job_form(
    state: &AppState,
    form: Multipart,
) -> Result<FormRequest, ApiError> {
    let mut files = Vec::new();
    let result = read_parts(state, form, &mut files).await;
    if result.is_err() {
        let stored: Vec<Upload> = files.into_iter().map(|f| f.upload).collect();
        state.uploads.remove_all(&stored).await;
    }
    result
}

/// The parts of a form, as they came.
#[derive(Default)]
struct Parts {
    kind: Option<String>,
    params: Option<String>,
    /// Parameters sent as text, by name.
    texts: Vec<(String, String)>,
}

async fn read_parts(
    state: &AppState,
    mut form: Multipart,
    files: &mut Vec<StoredFile>,
) -> Result<FormRequest, ApiError> {
    let mut parts = Parts::default();
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_some() {
            files.push(store_file(state, name, field).await?);
            continue;
        }
        let text = read_text(field).await?;
        match name.as_str() {
            "kind" => parts.kind = Some(text),
            "params" => parts.params = Some(text),
            _ => parts.texts.push((name, text)),
        }
    }
    let info = &kind(state, parts.kind)?;
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
        let param = declared(info, &name)?;
        match param.parse_text(&text) {
            Ok(Some(value)) => {
                params.insert(name, value);
            }
            Ok(None) => {}
            Err(message) => return Err(invalid_param(&name, message)),
        }
    }
    for file in files.iter() {
        check_file(declared(info, &file.param)?, file)?;
        let value = serde_json::to_value(&file.upload)
            .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        if params.insert(file.param.clone(), value).is_some() {
            return Err(invalid_param(&file.param, "was sent twice"));
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

/// A file part must be for a file parameter, of a type it takes, and not empty.
fn check_file(param: &ParamField, file: &StoredFile) -> Result<(), ApiError> {
    let Input::File { content_types, .. } = &param.input else {
        return Err(invalid_param(
            &file.param,
            "is not a file parameter; send it as text",
        ));
    };
    let content_type = file
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !content_types.is_empty()
        && !content_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(essence))
    {
        return Err(ApiError::UnsupportedFileType {
            field: format!("params.{}", file.param),
            content_type: essence.chars().take(100).collect(),
            accepted: content_types.join(", "),
        });
    }
    if file.upload.bytes == 0 {
        return Err(invalid_param(
            &file.param,
            format!("the file {} is empty", file.upload.name),
        ));
    }
    Ok(())
}

async fn store_file(
    state: &AppState,
    param: String,
    field: Field<'_>,
) -> Result<StoredFile, ApiError> {
    let content_type = field.content_type().map(str::to_owned);
    let name = field.file_name().unwrap_or_default().to_owned();
    let upload = state
        .uploads
        .receive(&name, field, state.upload_max_bytes)
        .await
        .map_err(|err| match err {
            UploadError::TooLarge { max } => ApiError::FileTooLarge {
                field: format!("params.{param}"),
                max,
            },
            UploadError::Incomplete(why) => ApiError::MalformedForm(why),
            UploadError::Io(err) => ApiError::Internal(format!("storing an upload: {err}")),
        })?;
    Ok(StoredFile {
        param,
        content_type,
        upload,
    })
}

async fn read_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_TEXT_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_TEXT_BYTES,
            });
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::InvalidField(FieldError::new(name, "is not valid UTF-8 text")))
}

fn malformed(err: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::MalformedForm(err.body_text())
}
