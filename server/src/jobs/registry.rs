//! From a job's spec to its kind's code: the one place that lists the kinds.

use std::collections::HashMap;
use std::time::Duration;

use app::job::{JobKind as Kind, JobSpec};
use futures::future::BoxFuture;

use super::demo::Demo;
use super::export::Export;
use super::kind::JobKind;
use super::{JobContext, JobError, Outcome};

/// A job ready to run: its code and its time limit.
pub(super) struct Prepared {
    pub(super) time_limit: Option<Duration>,
    pub(super) work: BoxFuture<'static, Result<Outcome, JobError>>,
}

fn prepare_kind<K: JobKind>(
    ctx: JobContext,
    params: K::Params,
    time_limit: Option<Duration>,
) -> Prepared {
    Prepared {
        time_limit: time_limit.or(K::TIME_LIMIT),
        work: Box::pin(K::run(ctx, params)),
    }
}

/// The job's code, with its kind's time limit unless `time_limits` overrides it.
pub(super) fn prepare(
    spec: JobSpec,
    ctx: JobContext,
    time_limits: &HashMap<Kind, Duration>,
) -> Prepared {
    let limit = time_limits.get(&spec.kind()).copied();
    match spec {
        JobSpec::Demo(params) => prepare_kind::<Demo>(ctx, params, limit),
        JobSpec::Export(params) => prepare_kind::<Export>(ctx, params, limit),
    }
}

/// Whether an interrupted job of this kind may run again.
pub(super) fn safe_to_rerun(kind: Kind) -> bool {
    match kind {
        Kind::Demo => Demo::SAFE_TO_RERUN,
        Kind::Export => Export::SAFE_TO_RERUN,
    }
}
