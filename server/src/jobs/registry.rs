//! The kinds a server runs ([`Kinds`]), and the bridge from a job's JSON spec to its
//! kind's typed code. The kinds Candor ships are listed in [`super::kinds`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::job::{FieldError, JobSpec};
use app::kind::{Input, KindInfo, ParamField, Upload, check_params};
use futures::future::BoxFuture;
use serde_json::Value;

use super::kind::JobKind;
use super::{JobContext, JobError, Outcome};
use crate::store::ClaimLimits;

/// Why a job spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("unknown job kind '{kind}'; the kinds are: {known}")]
    UnknownKind { kind: String, known: String },
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// The kinds this server runs, with the limits its configuration sets. Cheap to clone.
#[derive(Clone)]
pub struct Kinds {
    kinds: Arc<Vec<Registered>>,
}

#[derive(Clone)]
struct Registered {
    kind: Arc<dyn AnyKind>,
    params: Vec<ParamField>,
    time_limit: Option<Duration>,
    max_running: Option<u32>,
}

/// A job ready to run: its code and its time limit.
pub(super) struct Prepared {
    pub(super) time_limit: Option<Duration>,
    pub(super) work: BoxFuture<'static, Result<Outcome, JobError>>,
}

impl Kinds {
    pub fn empty() -> Self {
        Self {
            kinds: Arc::new(Vec::new()),
        }
    }

    /// Adds the kind `K`.
    pub fn with<K: JobKind>(self) -> Self {
        let mut kinds = Arc::unwrap_or_clone(self.kinds);
        assert!(
            kinds.iter().all(|r| r.kind.name() != K::NAME),
            "two job kinds are named {}",
            K::NAME
        );
        kinds.push(Registered {
            kind: Arc::new(Typed::<K>(std::marker::PhantomData)),
            params: K::params(),
            time_limit: K::TIME_LIMIT,
            max_running: K::MAX_RUNNING,
        });
        Self {
            kinds: Arc::new(kinds),
        }
    }

    /// Applies the configuration: time limits per kind name (replacing the kinds' own)
    /// and the largest upload any file parameter takes.
    pub fn configured(self, time_limits: &HashMap<String, Duration>, max_upload: u64) -> Self {
        let mut kinds = Arc::unwrap_or_clone(self.kinds);
        for registered in &mut kinds {
            if let Some(limit) = time_limits.get(registered.kind.name()) {
                registered.time_limit = Some(*limit);
            }
            for param in &mut registered.params {
                if let Input::File { max_bytes, .. } = &mut param.input {
                    *max_bytes = max_upload;
                }
            }
        }
        Self {
            kinds: Arc::new(kinds),
        }
    }

    /// What claims may not go past: the kinds that cap how many of them run at once.
    pub fn claim_limits(&self) -> ClaimLimits {
        let kinds = self
            .kinds
            .iter()
            .filter_map(|r| Some((r.kind.name().to_owned(), r.max_running?)))
            .collect();
        ClaimLimits {
            kind_max_running: Arc::new(kinds),
            ..ClaimLimits::none()
        }
    }

    /// The kinds' names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.iter().map(|r| r.kind.name())
    }

    /// What `GET /api/kinds` and the form show.
    pub fn infos(&self) -> Vec<KindInfo> {
        self.kinds.iter().map(Registered::info).collect()
    }

    /// The declaration of one kind.
    pub fn info(&self, name: &str) -> Result<KindInfo, SpecError> {
        self.find(name).map(Registered::info)
    }

    fn find(&self, name: &str) -> Result<&Registered, SpecError> {
        self.kinds
            .iter()
            .find(|r| r.kind.name() == name)
            .ok_or_else(|| SpecError::UnknownKind {
                kind: name.chars().take(64).collect(),
                known: self.names().collect::<Vec<_>>().join(", "),
            })
    }

    /// Checks a spec against its kind: the declared parameters, then the typed ones.
    /// Returns the job's title.
    pub fn check(&self, spec: &JobSpec) -> Result<String, SpecError> {
        let registered = self.find(&spec.kind)?;
        check_params(&registered.params, &spec.params)?;
        Ok(registered.kind.check(&spec.params)?)
    }

    /// Whether an interrupted job of this kind may run again.
    pub fn safe_to_rerun(&self, name: &str) -> bool {
        self.find(name).is_ok_and(|r| r.kind.safe_to_rerun())
    }

    /// The uploads a job's params hold, each with the name of its file parameter.
    pub fn uploads(&self, spec: &JobSpec) -> Vec<(String, Upload)> {
        let Ok(registered) = self.find(&spec.kind) else {
            return Vec::new();
        };
        registered
            .params
            .iter()
            .filter(|p| matches!(p.input, Input::File { .. }))
            .filter_map(|p| {
                let upload = serde_json::from_value(spec.params.get(&p.name)?.clone()).ok()?;
                Some((p.name.clone(), upload))
            })
            .collect()
    }

    /// The job's code, with its time limit.
    pub(super) fn prepare(&self, spec: JobSpec, ctx: JobContext) -> Prepared {
        match self.find(&spec.kind) {
            Ok(registered) => Prepared {
                time_limit: registered.time_limit,
                work: registered.kind.run(ctx, spec.params),
            },
            Err(err) => Prepared {
                time_limit: None,
                work: Box::pin(async move {
                    Err(JobError::failed(format!(
                        "this server no longer runs such jobs ({err})"
                    )))
                }),
            },
        }
    }
}

impl Registered {
    fn info(&self) -> KindInfo {
        KindInfo {
            name: self.kind.name().to_owned(),
            label: self.kind.label().to_owned(),
            description: self.kind.description().to_owned(),
            params: self.params.clone(),
            safe_to_rerun: self.kind.safe_to_rerun(),
            time_limit_secs: self.time_limit.map(|d| d.as_secs()),
        }
    }
}

/// A kind with its `Params` type erased, so kinds of different types sit in one list.
trait AnyKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn label(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn safe_to_rerun(&self) -> bool;
    fn check(&self, params: &Value) -> Result<String, FieldError>;
    fn run(&self, ctx: JobContext, params: Value) -> BoxFuture<'static, Result<Outcome, JobError>>;
}

struct Typed<K>(std::marker::PhantomData<fn() -> K>);

impl<K: JobKind> AnyKind for Typed<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn label(&self) -> &'static str {
        K::LABEL
    }

    fn description(&self) -> &'static str {
        K::DESCRIPTION
    }

    fn safe_to_rerun(&self) -> bool {
        K::SAFE_TO_RERUN
    }

    fn check(&self, params: &Value) -> Result<String, FieldError> {
        let typed = typed::<K::Params>(params)?;
        K::validate(&typed).map_err(|err| FieldError {
            field: format!("params.{}", err.field),
            ..err
        })?;
        Ok(K::title(&typed))
    }

    fn run(&self, ctx: JobContext, params: Value) -> BoxFuture<'static, Result<Outcome, JobError>> {
        match typed::<K::Params>(&params) {
            Ok(params) => Box::pin(K::run(ctx, params)),
            Err(err) => Box::pin(async move {
                Err(JobError::failed(format!(
                    "the job's parameters no longer fit its kind ({err})"
                )))
            }),
        }
    }
}

/// Reads `params` into a kind's type, naming a failing field as a path (`params.steps`).
fn typed<T: serde::de::DeserializeOwned>(params: &Value) -> Result<T, FieldError> {
    let params = match params {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other.clone(),
    };
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
        FieldError::new(field, message)
    })
}
