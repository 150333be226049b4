//! Control from any node: cancelling on one node stops the run on another, and an
//! owner's limits hold for the cluster, not per node.

use app::event::{EventId, JobEvent};
use app::job::JobStatus;
use serde_json::json;

use crate::cluster::{Cluster, until_running};
use crate::process::{collect_until, decode, ends};

#[tokio::test]
async fn cancelling_on_one_node_stops_the_job_running_on_another() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a", 0, &[]).await;
    let b = cluster.node("b", 1, &[]).await;
    let mut on_a = a.events("/api/events", None).await;
    let job = a
        .start_job(json!({ "kind": "demo", "params": { "steps": 100, "stepMs": 200 } }))
        .await;
    let id = job.id;
    until_running(&mut on_a, &job).await;

    let cancelled = a.post(&format!("/api/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(cancelled.status(), 200);
    let rest = collect_until(&mut on_a, ends(&job)).await;
    let last = rest.last().unwrap();
    assert!(matches!(decode(last), JobEvent::Cancelled(_)));
    // b's run stopped (its code noticed), and wrote nothing after the cancellation.
    b.wait_for_log("ended (already recorded)").await;
    let log = a.replay(EventId(0), |e| e.id == last.id).await;
    assert_eq!(log.last().unwrap().id, last.id);
    assert_eq!(a.job(id).await.status, JobStatus::Cancelled);
}

#[tokio::test]
async fn an_owners_limit_holds_across_nodes() {
    let cluster = Cluster::new().await;
    // No workers: the jobs stay queued, in flight.
    let limit = [("CANDOR_OWNER_MAX_IN_FLIGHT", "3")];
    let a = cluster.node("a", 0, &limit).await;
    let b = cluster.node("b", 0, &limit).await;
    let demo = json!({ "kind": "demo", "params": { "steps": 1, "stepMs": 10 } });
    a.start_job(demo.clone()).await;
    b.start_job(demo.clone()).await;
    a.start_job(demo.clone()).await;
    for node in [&a, &b] {
        let refused = node.post("/api/jobs", demo.clone()).await;
        assert_eq!(refused.status(), 429, "the fourth, on either node");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert!(body.to_string().contains("3 jobs"), "{body}");
    }
    let list: serde_json::Value = b
        .client
        .get(b.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["jobs"].as_array().unwrap().len(),
        3,
        "nothing stored for them"
    );
}
