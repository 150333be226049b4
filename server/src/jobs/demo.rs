//! `demo`: counts through its steps, sleeping `stepMs` in each, and fails on request.
//! It shows what progress, failure and cancellation look like.

use std::time::Duration;

use app::job::DemoParams;

use super::kind::JobKind;
use super::{JobContext, JobError, Outcome};

pub(super) struct Demo;

impl JobKind for Demo {
    type Params = DemoParams;

    async fn run(ctx: JobContext, params: DemoParams) -> Result<Outcome, JobError> {
        let steps = params.steps.max(1);
        for step in 1..=steps {
            let name = format!("Step {step} of {steps}");
            ctx.step(&name);
            tokio::time::sleep(Duration::from_millis(params.step_ms)).await;
            if params.fail_at == Some(step) {
                return Err(JobError::failed(format!(
                    "the demo job was asked to fail at step {step} (failAt = {step})"
                )));
            }
            let percent = u64::from(step) * 100 / u64::from(steps);
            ctx.progress(u8::try_from(percent).unwrap_or(100), &name);
        }
        Ok(Outcome::nothing())
    }
}
