//! Reading `POST /api/jobs` JSON bodies into a spec checked against its kind, with
//! errors that name the offending field.

use app::job::{FieldError, JobSpec};
use axum::http::{HeaderMap, header};
use std::time::Duration;

use http_body_util::LengthLimitError;
use serde_json::Value;
use tower_http::timeout::TimeoutError;

use super::error::ApiError;
use crate::jobs::{Kinds, SpecError};

/// What a job request's body is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BodyType {
    Json,
    /// `multipart/form-data`: parameters with a file.
    Form,
}

/// `application/json` (any charset) or `multipart/form-data`; anything else, or no
/// content type, is refused.
pub(super) fn body_type(headers: &HeaderMap) -> Result<BodyType, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(BodyType::Json)
    } else if essence.eq_ignore_ascii_case("multipart/form-data") {
        Ok(BodyType::Form)
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

impl From<SpecError> for ApiError {
    fn from(err: SpecError) -> Self {
        match err {
            SpecError::UnknownKind { kind, known } => ApiError::UnknownKind { kind, known },
            SpecError::Field(err) => ApiError::InvalidField(err),
        }
    }
}

/// Parses and checks a JSON job request: `{"kind": "...", "params": {...}}`. Returns
/// How many bytes a request body may have, and how long it may go without sending one.
#[derive(Clone, Copy, Debug)]
pub(super) struct BodyBounds {
    pub(super) max_bytes: u64,
    pub(super) idle: Duration,
}

impl BodyBounds {
    /// The answer to a body that could not be read because it stalled (`408`) or went
    /// past the limit (`413`), when that is why.
    pub(super) fn refusal(&self, err: &(dyn std::error::Error + 'static)) -> Option<ApiError> {
        let mut cause = Some(err);
        while let Some(err) = cause {
            if err.is::<TimeoutError>() {
                return Some(ApiError::BodyStalled { after: self.idle });
            }
            if err.is::<LengthLimitError>() {
                return Some(ApiError::PayloadTooLarge {
                    limit: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
                });
            }
            cause = err.source();
        }
        None
    }
}

/// the spec and the job's title.
pub fn parse_job_request(body: &[u8], kinds: &Kinds) -> Result<(JobSpec, String), ApiError> {
    let value = strict_json(body)
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
    let known = kinds.names().collect::<Vec<_>>().join(", ");
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
    let info = kinds.info(&kind)?;
    let params = fields.remove("params").ok_or_else(|| {
        ApiError::InvalidField(FieldError::new("params", "is required (a JSON object)"))
    })?;
    if !params.is_object() {
        return Err(ApiError::InvalidField(FieldError::new(
            "params",
            "must be a JSON object",
        )));
    }
    // A file comes only as a file, never as JSON that claims to be one.
    if let Some(file) = info.file_param() {
        return Err(ApiError::InvalidField(FieldError::new(
            format!("params.{}", file.name),
            format!(
                "a {kind} job takes a file: send the request as multipart/form-data, \
                 e.g. curl -F kind={kind} -F {}=@orders.csv",
                file.name
            ),
        )));
    }
    let spec = JobSpec::new(kind, params);
    let title = kinds.check(&spec)?;
    Ok((spec, title))
}

/// Parses JSON, refusing an object that names a key twice: parsers disagree on which
/// one counts (serde_json keeps the last, others the first), so such a body is
/// ambiguous and is refused rather than read one way.
pub fn strict_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(value) = serde::Deserialize::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A [`Value`] read with duplicate keys refused at every depth.
struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key \"{key}\" appears twice in one object"
                )));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::builtin_kinds;

    fn field_of(body: &str) -> String {
        match parse_job_request(body.as_bytes(), &builtin_kinds()) {
            Err(ApiError::InvalidField(err)) => err.field,
            Err(ApiError::UnknownKind { .. }) => "kind (unknown)".to_owned(),
            Err(other) => format!("other: {other}"),
            Ok(spec) => format!("accepted: {spec:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_typed() {
        let (spec, title) = parse_job_request(
            br#"{"kind":"demo","params":{"steps":3,"stepMs":10}}"#,
            &builtin_kinds(),
        )
        .unwrap();
        assert_eq!(
            spec,
            JobSpec::new("demo", serde_json::json!({ "steps": 3, "stepMs": 10 }))
        );
        assert_eq!(title, "Demo: 3 steps");
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
        assert_eq!(
            field_of(r#"{"kind":"export","params":{"from":"2024-05-01","to":"2024-04-30"}}"#),
            "params.to"
        );
        assert_eq!(
            field_of(
                r#"{"kind":"import","params":{"file":{"id":"00000000-0000-0000-0000-000000000001","name":"x","bytes":1}}}"#
            ),
            "params.file"
        );
        assert_eq!(field_of(r#"{"kind":"import","params":{}}"#), "params.file");
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
                    parse_job_request(body.as_bytes(), &builtin_kinds()),
                    Err(ApiError::MalformedJson(_))
                ),
                "{body:?}"
            );
        }
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::*;

        /// Numbers around every boundary the kinds declare, and any at all.
        fn number() -> impl Strategy<Value = i64> {
            prop_oneof![
                -2i64..=2,
                98i64..=102,
                59_998i64..=60_002,
                9_999_999i64..=10_000_001,
                any::<i64>(),
            ]
        }

        /// Any JSON value, nested a little.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                number().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "\\PC{0,12}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// A request that is mostly well-formed, with hostile values where it counts.
        fn request() -> impl Strategy<Value = Value> {
            let kind = prop_oneof![
                Just(json!("demo")),
                Just(json!("export")),
                Just(json!("import")),
                Just(json!("compress")),
                json_value(),
            ];
            let key = prop_oneof![
                Just("steps".to_owned()),
                Just("stepMs".to_owned()),
                Just("failAt".to_owned()),
                Just("rows".to_owned()),
                Just("source".to_owned()),
                Just("from".to_owned()),
                Just("file".to_owned()),
                "[a-z]{1,6}",
            ];
            let params = prop::collection::btree_map(key, json_value(), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect()));
            (kind, params, any::<bool>()).prop_map(|(kind, params, extra)| {
                let mut request = json!({ "kind": kind, "params": params });
                if extra {
                    request["extra"] = json!(1);
                }
                request
            })
        }

        proptest! {
            /// Whatever arrives is accepted as a known kind with a title, or refused
            /// with an error that names the field at fault: never a panic, never a 500.
            #[test]
            fn any_request_is_accepted_or_refused_by_field(body in request()) {
                match parse_job_request(body.to_string().as_bytes(), &builtin_kinds()) {
                    Ok((spec, title)) => {
                        prop_assert!(builtin_kinds().names().any(|n| n == spec.kind));
                        prop_assert!(!title.is_empty());
                    }
                    Err(ApiError::InvalidField(err)) => prop_assert!(
                        ["kind", "params", "extra"].contains(&err.field.as_str())
                            || err.field.starts_with("params."),
                        "{err:?}"
                    ),
                    Err(ApiError::UnknownKind { .. }) => {}
                    Err(other) => prop_assert!(false, "{other}"),
                }
            }

            /// A demo request is accepted exactly when every number is in its range.
            #[test]
            fn demo_params_are_accepted_exactly_in_range(
                steps in number(),
                step_ms in number(),
                fail_at in prop::option::of(number()),
            ) {
                let mut params = json!({ "steps": steps, "stepMs": step_ms });
                if let Some(fail_at) = fail_at {
                    params["failAt"] = json!(fail_at);
                }
                let body = json!({ "kind": "demo", "params": params }).to_string();
                let accepted = parse_job_request(body.as_bytes(), &builtin_kinds()).is_ok();
                let expected = (1..=100).contains(&steps)
                    && (0..=60_000).contains(&step_ms)
                    && fail_at.is_none_or(|f| (1..=steps).contains(&f));
                prop_assert_eq!(accepted, expected, "{}", body);
            }
        }
    }
}
