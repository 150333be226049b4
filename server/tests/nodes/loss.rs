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
async fn a_stalled_node_that_wakes_after_its_job_was_ended_as_lost_cannot_change_the_outcome() {
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

/// Fencing proper: the job is queued again and another node runs it (attempt 2) when the
/// stalled node wakes with attempt 1 still running. The job's state would take its
/// progress (it is running); only the fencing token refuses it.
#[tokio::test]
async fn a_stalled_node_that_wakes_while_another_runs_the_job_again_is_fenced() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a", 0, &[]).await;
    let b = cluster.node("b", 1, &[]).await;
    let mut on_a = a.events("/api/events", None).await;
    // An export is safe to re-run: a lost run is queued again.
    let job = a
        .start_job(
            json!({ "kind": "export", "params": { "source": "sample", "rows": 10_000_000 } }),
        )
        .await;
    let id = job.id;
    until_running(&mut on_a, &job).await;

    b.signal("STOP");
    collect_until(&mut on_a, |e| {
        matches!(decode(e), JobEvent::StatusUpdate(u) if u.job_id == id && u.status == JobStatus::Queued)
    })
    .await;
    let c = cluster.node("c", 1, &[]).await;
    until_running(&mut on_a, &job).await;
    assert_eq!(a.job(id).await.attempt, 2, "c runs the second attempt");

    // b wakes: its run's next write is refused by the token, and its run stops.
    b.signal("CONT");
    b.wait_for_log("ended (already recorded)").await;
    let now = a.job(id).await;
    assert_eq!(
        (now.status, now.attempt),
        (JobStatus::Running, 2),
        "c's run goes on"
    );
    assert!(c.logs().contains(&format!("id={id}")), "{}", c.logs());
}
