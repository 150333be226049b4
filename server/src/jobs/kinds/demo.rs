//! `demo`: counts through its steps, sleeping `stepMs` in each, and fails on request.
//! It shows what progress, failure and cancellation look like.

use std::time::Duration;

use app::job::{FieldError, group_digits};
use app::kind::{Input, ParamField};
use serde::Deserialize;
use tokio::time::Instant;

use crate::jobs::kind::JobKind;
use crate::jobs::{JobContext, JobError, Outcome};

pub(super) struct Demo;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DemoParams {
    steps: u32,
    step_ms: u64,
    /// Fail at this step (1-based) with a clear reason, to show how failures look.
    #[serde(default)]
    fail_at: Option<u32>,
    /// Report progress this many times in each step (default once), to show that a
    /// flood of progress reports is coalesced. Not in the form.
    #[serde(default)]
    reports_per_step: Option<u32>,
}

impl JobKind for Demo {
    const NAME: &'static str = "demo";
    const LABEL: &'static str = "Demo";
    const DESCRIPTION: &'static str =
        "Counts through its steps, to show what progress, failure and cancellation look like.";

    type Params = DemoParams;

    /// The longest a demo can be is 100 steps of a minute each.
    const TIME_LIMIT: Option<Duration> = Some(Duration::from_secs(2 * 60 * 60));

    fn params() -> Vec<ParamField> {
        vec![
            ParamField {
                name: "steps".into(),
                label: "Steps".into(),
                hint: Some("1 to 100".into()),
                required: true,
                input: Input::Integer {
                    min: 1,
                    max: 100,
                    default: Some(10),
                },
            },
            ParamField {
                name: "stepMs".into(),
                label: "Milliseconds per step".into(),
                hint: Some("0 to 60,000".into()),
                required: true,
                input: Input::Integer {
                    min: 0,
                    max: 60_000,
                    default: Some(500),
                },
            },
            ParamField {
                name: "failAt".into(),
                label: "Fail at step".into(),
                hint: Some("the step at which to fail, to see a failure".into()),
                required: false,
                input: Input::Integer {
                    min: 1,
                    max: 100,
                    default: None,
                },
            },
            ParamField {
                name: "reportsPerStep".into(),
                label: "Reports per step".into(),
                hint: Some("progress reports per step, to see them coalesced".into()),
                required: false,
                input: Input::Integer {
                    min: 1,
                    max: 100_000,
                    default: None,
                },
            },
        ]
    }

    fn validate(params: &DemoParams) -> Result<(), FieldError> {
        match params.fail_at {
            Some(step) if step > params.steps => Err(FieldError::new(
                "failAt",
                format!(
                    "must be between 1 and {} (the number of steps), got {step}",
                    params.steps
                ),
            )),
            _ => Ok(()),
        }
    }

    fn title(params: &DemoParams) -> String {
        let count = params.steps;
        let steps = group_digits(count.into());
        let steps = if count == 1 { format!("{steps} step") } else { format!("{steps} steps") };
        match params.fail_at {
            Some(step) => format!("Demo: {steps}, fails at step {step}"),
            None => format!("Demo: {steps}"),
        }
    }

    async fn run(ctx: JobContext, params: DemoParams) -> Result<Outcome, JobError> {
        let steps = u64::from(params.steps.max(1));
        let reports = u64::from(params.reports_per_step.unwrap_or(1).max(1));
        // Each step ends at its place on one clock from the start, so a busy moment
        // delays a step but not the ones after it.
        let started = Instant::now();
        for step in 1..=steps {
            let name = format!("Step {step} of {steps}");
            let step_ends = started + Duration::from_millis(params.step_ms * step);
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
                ctx.log(format!("Step {step} fails, as asked"));
                return Err(JobError::failed(format!(
                    "the demo job was asked to fail at step {step} (failAt = {step})"
                )));
            }
            ctx.log(format!("Finished step {step} of {steps}"));
            ctx.progress(percent(step * reports, steps * reports), &name);
        }
        Ok(Outcome::nothing())
    }
}

fn percent(done: u64, total: u64) -> u8 {
    u8::try_from(done * 100 / total.max(1)).unwrap_or(100)
}
