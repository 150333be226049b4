//! What a job's card shows besides its status: its log lines (streamed as `log` events and
//! kept on the job), when each step began, and how much it processed.

use std::time::Duration;

use app::event::{JobEvent, Unit};
use app::job::JobStatus;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_jobs_log_lines_stream_in_order_before_its_end_and_stay_on_the_job() {
    let app = spawn_app().await;
    let job = app.demo(3, 30).await;
    let events = app.job_events_to_end(&job, None).await;
    assert_well_formed(&events);

    let decoded: Vec<JobEvent> = events.iter().map(decode).collect();
    let logged: Vec<String> = decoded
        .iter()
        .filter_map(|event| match event {
            JobEvent::Log(log) => Some(log.lines.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let expected = [
        "Finished step 1 of 3",
        "Finished step 2 of 3",
        "Finished step 3 of 3",
    ];
    assert_eq!(logged, expected);
    let last_log = decoded
        .iter()
        .rposition(|event| matches!(event, JobEvent::Log(_)))
        .unwrap();
    assert!(
        matches!(decoded[last_log + 1..], [.., JobEvent::Completion(_)]),
        "the last lines come before the ending"
    );

    let ended = app.job(&job).await;
    assert_eq!(ended.status, JobStatus::Completed);
    assert_eq!(ended.log, expected, "the job keeps its newest lines");
    // The same in the list the page renders from.
    let listed = app.list().await;
    assert_eq!(listed[0].log, expected);
}

#[tokio::test]
async fn an_ended_job_says_when_each_step_began() {
    let app = spawn_app().await;
    let job = app.demo(3, 30).await;
    let ended = app.wait_until_ended(&job).await;
    let steps: Vec<&str> = ended.steps.iter().map(|mark| mark.step.as_str()).collect();
    assert_eq!(
        steps,
        ["Starting", "Step 1 of 3", "Step 2 of 3", "Step 3 of 3"]
    );
    let started = ended.started_at.unwrap();
    let finished = ended.finished_at.unwrap();
    assert_eq!(ended.steps[0].at, started, "the first step begins the run");
    assert!(
        ended.steps.windows(2).all(|pair| pair[0].at <= pair[1].at),
        "{:?}",
        ended.steps
    );
    assert!(ended.steps.last().unwrap().at <= finished);
}

#[tokio::test]
async fn steps_shorter_than_the_progress_interval_are_on_the_timeline_too() {
    // One progress event a second at most, and steps of 20 ms: four steps begin between
    // two writes, and each is on the timeline, at the time it began.
    let app = spawn_app_with(|config| config.progress_interval = Duration::from_secs(1)).await;
    let job = app.demo(4, 20).await;
    let ended = app.wait_until_ended(&job).await;
    let steps: Vec<&str> = ended.steps.iter().map(|mark| mark.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "Starting",
            "Step 1 of 4",
            "Step 2 of 4",
            "Step 3 of 4",
            "Step 4 of 4"
        ]
    );
    // Each at the time it began, not at the time of the one write that carried them:
    // step 4 began when step 3's 20 ms ended, at least 60 ms into the run.
    assert!(
        ended.steps.windows(2).all(|pair| pair[0].at <= pair[1].at),
        "{:?}",
        ended.steps
    );
    let span = ended.steps[4].at - ended.steps[1].at;
    assert!(span.num_milliseconds() >= 50, "{:?}", ended.steps);
    assert!(ended.steps[4].at <= ended.finished_at.unwrap());
}

#[tokio::test]
async fn a_failed_jobs_last_lines_say_where_it_stopped() {
    let app = spawn_app().await;
    let job = app
        .start(json!({"kind": "demo", "params": {"steps": 3, "stepMs": 20, "failAt": 2}}))
        .await;
    let ended = app.wait_until_ended(&job).await;
    assert_eq!(ended.status, JobStatus::Failed);
    assert_eq!(
        ended.log,
        ["Finished step 1 of 3", "Step 2 fails, as asked"]
    );
}

#[tokio::test]
async fn an_export_counts_the_rows_it_wrote() {
    let app = spawn_app().await;
    let job = app
        .start(json!({"kind": "export", "params": {"rows": 30000}}))
        .await;
    let events = app.job_events_to_end(&job, None).await;
    let counts: Vec<u64> = events
        .iter()
        .filter_map(|event| match decode(event) {
            JobEvent::StatusUpdate(update) => update.done.map(|done| done.count),
            _ => None,
        })
        .collect();
    assert!(!counts.is_empty(), "progress carries the count");
    assert!(counts.is_sorted(), "{counts:?}");
    let ended = app.job(&job).await;
    let processed = ended.processed.expect("an export counts rows");
    assert_eq!(processed.latest.unit, Unit::Rows);
    assert_eq!(processed.latest.count, 30_000);
    assert_eq!(
        ended.log,
        [
            "Generating 30,000 rows of sample data (no orders imported yet)",
            "Wrote 30,000 rows of sample data to orders.csv"
        ]
    );
}
