//! A node that dies, or stalls past its lease: its running job is ended honestly by
//! another node, every subscriber sees it, and a stalled run that wakes up cannot
//! overwrite the outcome (fencing).

use app::event::{EventId, JobEvent};
use app::job::JobStatus;
use serde_json::json;

use crate::cluster::{Cluster, until_running};
use crate::process::{collect_until, decode, ends};

#[tokio::test]
async fn sigkill_of_the_node_running_a_job_ends_it_as_lost_for_subscribers_elsewhere() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a", 0, &[]).await;
    let b = cluster.node("b", 1, &[]).await;
    let mut on_a = a.events("/api/events", None).await;
    let job = a
        .start_job(json!({ "kind": "demo", "params": { "steps": 100, "stepMs": 200 } }))
        .await;
    until_running(&mut on_a, &job).await;

    b.kill9().await;
    let rest = collect_until(&mut on_a, ends(&job)).await;
    let JobEvent::Failure(failure) = decode(rest.last().unwrap()) else {
        panic!("the job failed: {:?}", rest.last());
    };
    assert_eq!(failure.error, "worker node lost");
    assert!(failure.step.is_some(), "the step it was lost at is kept");
    let job = a.job(job.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("worker node lost"));
}

#[tokio::test]
async fn a_stalled_node_that_wakes_after_its_lease_is_fenced_and_the_outcome_stands() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a", 0, &[]).await;
    let b = cluster.node("b", 1, &[]).await;
    let mut on_a = a.events("/api/events", None).await;
    let job = a
        .start_job(json!({ "kind": "demo", "params": { "steps": 100, "stepMs": 100 } }))
        .await;
    until_running(&mut on_a, &job).await;

    // b freezes (a long pause, a frozen VM) past its lease: a ends the job as lost.
    b.signal("STOP");
    let ended = collect_until(&mut on_a, ends(&job)).await;
    let lost = ended.last().unwrap().clone();
    assert!(matches!(decode(&lost), JobEvent::Failure(f) if f.error == "worker node lost"));

    // b wakes with the job's code still running: its next write is refused, its run
    // stops, and it records nothing.
    b.signal("CONT");
    b.wait_for_log("ended (already recorded)").await;
    let job = a.job(job.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("worker node lost"));
    assert_eq!(
        job.last_event_id.to_string(),
        lost.id,
        "nothing after the ending"
    );
    let log = a.replay(EventId(0), |e| e.id == lost.id).await;
    assert_eq!(log.last().unwrap().id, lost.id);
}
