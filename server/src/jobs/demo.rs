//! `demo`: counts through its steps, sleeping `stepMs` in each, and fails on request.
//! It shows what progress, failure and cancellation look like.

use std::time::Duration;

use tokio::time::Instant;

use app::job::DemoParams;

use super::kind::JobKind;
use super::{JobContext, JobError, Outcome};

pub(super) struct Demo;

impl JobKind for Demo {
    type Params = DemoParams;

    /// The longest a demo can be is 100 steps of a minute each.
    const TIME_LIMIT: Option<Duration> = Some(Duration::from_secs(2 * 60 * 60));

    async fn run(ctx: JobContext, params: DemoParams) -> Result<Outcome, JobError> {
        let steps = u64::from(params.steps.max(1));
        let reports = u64::from(params.reports_per_step.unwrap_or(1).max(1));
        for step in 1..=steps {
            let name = format!("Step {step} of {steps}");
            let step_ends = Instant::now() + Duration::from_millis(params.step_ms);
            ctx.step(&name);
            // All but the step's last report go out while the step runs: a flood when
            // `reportsPerStep` is large.
            for report in 1..reports {
                let done = (step - 1) * reports + report;
                ctx.progress(percent(done, steps * reports), &name);
                if report % 1024 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            tokio::time::sleep_until(step_ends).await;
            if params.fail_at.map(u64::from) == Some(step) {
                return Err(JobError::failed(format!(
                    "the demo job was asked to fail at step {step} (failAt = {step})"
                )));
            }
            ctx.progress(percent(step * reports, steps * reports), &name);
        }
        Ok(Outcome::nothing())
    }
}

fn percent(done: u64, total: u64) -> u8 {
    u8::try_from(done * 100 / total.max(1)).unwrap_or(100)
}
