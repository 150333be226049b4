//! From a job's spec to its kind's code: the one place that lists the kinds.

use std::time::Duration;

use app::job::JobSpec;
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

fn prepare_kind<K: JobKind>(ctx: JobContext, params: K::Params) -> Prepared {
    Prepared {
        time_limit: K::TIME_LIMIT,
        work: Box::pin(K::run(ctx, params)),
    }
}

pub(super) fn prepare(spec: JobSpec, ctx: JobContext) -> Prepared {
    match spec {
        JobSpec::Demo(params) => prepare_kind::<Demo>(ctx, params),
        JobSpec::Export(params) => prepare_kind::<Export>(ctx, params),
    }
}
