//! Reading `POST /api/jobs` bodies: JSON into a typed, validated [`JobSpec`], with errors
//! that name the offending field.

use app::job::{FieldError, JobKind, JobSpec};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// Accepts `application/json` and `application/json; charset=utf-8`; anything else,
/// or no content type, is refused.
pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Parses and validates a job request: `{"kind": "...", "params": {...}}`.
pub(super) fn parse_job_request(body: &[u8]) -> Result<JobSpec, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(mut fields) = value else {
        return Err(ApiError::MalformedJson(
            "the body must be a JSON object: {\"kind\": ..., \"params\": {...}}".to_owned(),
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| *k != "kind" && *k != "params") {
        return Err(ApiError::InvalidField(FieldError::new(
            unknown.clone(),
            "unknown field; a job request has only \"kind\" and \"params\"",
        )));
    }
    let known = JobKind::ALL.map(JobKind::as_str).join(", ");
    let kind = match fields.remove("kind") {
        Some(Value::String(kind)) => kind,
        Some(_) => {
            return Err(ApiError::InvalidField(FieldError::new(
                "kind",
                format!("must be a string, one of: {known}"),
            )));
        }
        None => {
            return Err(ApiError::InvalidField(FieldError::new(
                "kind",
                format!("is required, one of: {known}"),
            )));
        }
    };
    let kind: JobKind = kind.parse().map_err(|_| ApiError::UnknownKind {
        kind: kind.chars().take(64).collect(),
        known,
    })?;
    let params = fields.remove("params").ok_or_else(|| {
        ApiError::InvalidField(FieldError::new("params", "is required (a JSON object)"))
    })?;
    if !params.is_object() {
        return Err(ApiError::InvalidField(FieldError::new(
            "params",
            "must be a JSON object",
        )));
    }
    let spec = match kind {
        JobKind::Demo => JobSpec::Demo(typed(params)?),
        JobKind::Export => JobSpec::Export(typed(params)?),
    };
    spec.validate().map_err(ApiError::InvalidField)?;
    Ok(spec)
}

/// Deserialises `params` into its kind's type, naming the failing field as a path
/// (`params.steps`).
fn typed<T: DeserializeOwned>(params: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(params).map_err(|err| {
        let path = err.path().to_string();
        let message = err.inner().to_string();
        let field = if path == "." {
            // Missing and unknown fields are reported at the object; the name is in the
            // message, between backticks.
            match message.split('`').nth(1) {
                Some(name) => format!("params.{name}"),
                None => "params".to_owned(),
            }
        } else {
            format!("params.{path}")
        };
        ApiError::InvalidField(FieldError::new(field, message))
    })
}

#[cfg(test)]
mod tests {
    use app::job::DemoParams;

    use super::*;

    fn field_of(body: &str) -> String {
        match parse_job_request(body.as_bytes()) {
            Err(ApiError::InvalidField(err)) => err.field,
            Err(ApiError::UnknownKind { .. }) => "kind (unknown)".to_owned(),
            Err(other) => format!("other: {other}"),
            Ok(spec) => format!("accepted: {spec:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_typed() {
        let spec =
            parse_job_request(br#"{"kind":"demo","params":{"steps":3,"stepMs":10}}"#).unwrap();
        assert_eq!(
            spec,
            JobSpec::Demo(DemoParams {
                steps: 3,
                step_ms: 10,
                fail_at: None,
                reports_per_step: None,
            })
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"kind":"demo","params":{"stepMs":10}}"#),
            "params.steps"
        );
        assert_eq!(
            field_of(r#"{"kind":"demo","params":{"steps":"x","stepMs":1}}"#),
            "params.steps"
        );
        assert_eq!(
            field_of(r#"{"kind":"demo","params":{"steps":0,"stepMs":1}}"#),
            "params.steps"
        );
        assert_eq!(
            field_of(r#"{"kind":"demo","params":{"steps":5,"stepMs":1,"failAt":6}}"#),
            "params.failAt"
        );
        assert_eq!(
            field_of(r#"{"kind":"demo","params":{"steps":5,"stepMs":1,"typo":1}}"#),
            "params.typo"
        );
        assert_eq!(
            field_of(r#"{"kind":"export","params":{"rows":10000001}}"#),
            "params.rows"
        );
        assert_eq!(
            field_of(r#"{"kind":"export","params":{"rows":-1}}"#),
            "params.rows"
        );
        assert_eq!(
            field_of(r#"{"kind":"export","params":{"rows":1e30}}"#),
            "params.rows"
        );
        assert_eq!(field_of(r#"{"kind":"export"}"#), "params");
        assert_eq!(field_of(r#"{"kind":"export","params":[1]}"#), "params");
        assert_eq!(field_of(r#"{"params":{}}"#), "kind");
        assert_eq!(field_of(r#"{"kind":7,"params":{}}"#), "kind");
        assert_eq!(field_of(r#"{"kind":"mine","params":{}}"#), "kind (unknown)");
        assert_eq!(
            field_of(r#"{"kind":"demo","params":{},"extra":1}"#),
            "extra"
        );
    }

    #[test]
    fn malformed_json_is_not_a_field_error() {
        for body in ["", "{", "[1,2]", "\"demo\"", "null"] {
            assert!(
                matches!(
                    parse_job_request(body.as_bytes()),
                    Err(ApiError::MalformedJson(_))
                ),
                "{body:?}"
            );
        }
    }
}
