//! Job kinds as the server declares them: a name, a label, and the parameters a kind
//! takes, each with its type and limits. The server lists them at `GET /api/kinds` and
//! in the page it renders; the browser builds its form from them; both sides check
//! values with the same rules ([`check_params`]), so the form flags what the server would
//! refuse before anything is sent.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::job::{FieldError, group_digits};

/// Characters that have no place in a one-line text value and could change how the
/// text around it reads where it is shown (a title, a log line): C0/C1 controls and the
/// Unicode bidirectional overrides and isolates.
pub fn is_invisible_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A kind of job the server runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindInfo {
    /// The wire name: `{"kind": "export", ...}`.
    pub name: String,
    /// For people: "Export orders".
    pub label: String,
    /// One sentence on what a job of this kind does.
    pub description: String,
    pub params: Vec<ParamField>,
    /// Whether a run that a restart interrupted is run again.
    pub safe_to_rerun: bool,
    /// How long one run may take, if it is limited.
    pub time_limit_secs: Option<u64>,
}

impl KindInfo {
    /// The parameter that takes an uploaded file, if this kind has one.
    pub fn file_param(&self) -> Option<&ParamField> {
        self.params
            .iter()
            .find(|p| matches!(p.input, Input::File { .. }))
    }
}

/// One parameter of a kind: `params.<name>` in a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamField {
    pub name: String,
    pub label: String,
    /// A short help text shown under the field.
    pub hint: Option<String>,
    pub required: bool,
    pub input: Input,
}

/// What values a parameter takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Input {
    /// A whole number in `min..=max`.
    #[serde(rename_all = "camelCase")]
    Integer {
        min: i64,
        max: i64,
        default: Option<i64>,
    },
    /// One of a few values.
    #[serde(rename_all = "camelCase")]
    Choice {
        options: Vec<Choice>,
        default: Option<String>,
    },
    /// A line of text.
    #[serde(rename_all = "camelCase")]
    Text { max_chars: usize },
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A file uploaded with the request (`multipart/form-data`). In the job's params it
    /// becomes an [`Upload`].
    #[serde(rename_all = "camelCase")]
    File {
        /// File name extensions the form offers, e.g. `.csv`.
        extensions: Vec<String>,
        /// Content types the server accepts (`415` otherwise); empty: any.
        content_types: Vec<String>,
        /// The largest file taken. Kinds declare 0: the server fills in its configured
        /// limit (`CANDOR_UPLOAD_MAX_BYTES`), the same for every file parameter.
        max_bytes: u64,
    },
}

/// An option of a [`Input::Choice`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
        }
    }
}

/// A file the server stored for a job: what a file parameter holds in the job's params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Upload {
    pub id: Uuid,
    /// The name the file had on the user's machine.
    pub name: String,
    pub bytes: u64,
}

impl ParamField {
    /// Checks one value (`None`: absent or `null`).
    pub fn check(&self, value: Option<&Value>) -> Result<(), String> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return if self.required {
                Err("is required".to_owned())
            } else {
                Ok(())
            };
        };
        match &self.input {
            Input::Integer { min, max, .. } => {
                let Some(n) = value.as_i64() else {
                    return Err(format!("must be a whole number, got {value}"));
                };
                if (*min..=*max).contains(&n) {
                    Ok(())
                } else {
                    Err(format!(
                        "must be between {} and {}, got {}",
                        signed_digits(*min),
                        signed_digits(*max),
                        signed_digits(n)
                    ))
                }
            }
            Input::Choice { options, .. } => match value.as_str() {
                Some(v) if options.iter().any(|o| o.value == v) => Ok(()),
                _ => Err(format!(
                    "must be one of {}, got {value}",
                    options
                        .iter()
                        .map(|o| format!("'{}'", o.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
            Input::Text { max_chars } => match value.as_str() {
                Some(v) if v.trim().is_empty() => Err("must not be blank".to_owned()),
                Some(v) if v.chars().count() > *max_chars => {
                    Err(format!("must be at most {max_chars} characters long"))
                }
                Some(v) if v.chars().any(is_invisible_control) => Err(
                    "must not contain control characters (line breaks, tabs, NUL, \
                     or text-direction overrides)"
                        .to_owned(),
                ),
                Some(_) => Ok(()),
                None => Err(format!("must be text, got {value}")),
            },
            Input::Date => match value.as_str() {
                Some(v) if parse_date(v).is_some() => Ok(()),
                _ => Err(format!("must be a date written YYYY-MM-DD, got {value}")),
            },
            Input::File { .. } => match serde_json::from_value::<Upload>(value.clone()) {
                Ok(_) => Ok(()),
                Err(_) => {
                    Err("must be a file uploaded with the request (multipart/form-data)".into())
                }
            },
        }
    }

    /// Reads what a person typed (a form input, a `curl -F name=value` part) into the
    /// JSON value this parameter takes: blank is absent, numbers become numbers.
    pub fn parse_text(&self, raw: &str) -> Result<Option<Value>, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let value = match &self.input {
            Input::Integer { .. } => {
                let digits: String = raw.chars().filter(|c| *c != ',' && *c != '_').collect();
                let n: i64 = digits
                    .parse()
                    .map_err(|_| format!("must be a whole number, got '{raw}'"))?;
                Value::from(n)
            }
            Input::File { .. } => {
                return Err("must be a file uploaded with the request".into());
            }
            Input::Choice { .. } | Input::Text { .. } | Input::Date => Value::from(raw),
        };
        self.check(Some(&value))?;
        Ok(Some(value))
    }

    /// What the form shows before anyone types.
    pub fn default_text(&self) -> String {
        match &self.input {
            Input::Integer {
                default: Some(n), ..
            } => n.to_string(),
            Input::Choice {
                default: Some(v), ..
            } => v.clone(),
            _ => String::new(),
        }
    }
}

/// Checks `params` against a kind's declared parameters: an object with no unknown keys
/// and every value in range. The error names the field as a path in the request body
/// (`params.rows`).
pub fn check_params(fields: &[ParamField], params: &Value) -> Result<(), FieldError> {
    let empty = Map::new();
    let object = match params {
        Value::Null => &empty,
        Value::Object(object) => object,
        other => {
            return Err(FieldError::new(
                "params",
                format!("must be an object, got {other}"),
            ));
        }
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !fields.iter().any(|f| &f.name == *key))
    {
        let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        return Err(FieldError::new(
            format!("params.{unknown}"),
            if known.is_empty() {
                "this kind takes no parameters".to_owned()
            } else {
                format!(
                    "is not a parameter of this kind (it takes {})",
                    known.join(", ")
                )
            },
        ));
    }
    for field in fields {
        field
            .check(object.get(&field.name))
            .map_err(|message| FieldError::new(format!("params.{}", field.name), message))?;
    }
    Ok(())
}

/// Parses `YYYY-MM-DD` strictly (four-digit year, two-digit month and day).
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return None;
    }
    // Parsed by hand, not with a format string: chrono's format parser would add some
    // 10 KB to the browser's bundle for this one field.
    let number = |range: std::ops::Range<usize>| raw[range].parse::<u32>().ok();
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

fn signed_digits(n: i64) -> String {
    let grouped = group_digits(n.unsigned_abs());
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// Formats a byte count for people: "512 B", "1.5 KB", "44.9 MB".
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut per_unit = 1000;
    while bytes / per_unit >= 1000 && unit < UNITS.len() - 1 {
        per_unit *= 1000;
        unit += 1;
    }
    format!("{} {}", crate::job::tenths(bytes, per_unit), UNITS[unit])
}

#[cfg(test)]
mod tests;
