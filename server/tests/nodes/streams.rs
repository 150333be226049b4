//! Any node serves any stream: events of a job that one node runs reach subscribers on
//! every node, live and in order, and a stream resumes on any node.

use std::collections::HashSet;

use app::event::{EventId, JobEvent};
use eventsource_stream::Event;
use serde_json::json;

use crate::cluster::Cluster;
use crate::process::{assert_strictly_increasing, collect_until, decode, ends, id_of};

/// Events as compared across nodes: id, kind and payload.
fn keys(events: &[Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| !e.id.is_empty())
        .map(|e| (e.id.clone(), e.event.clone(), e.data.clone()))
        .collect()
}

#[tokio::test]
async fn a_job_posted_to_one_node_and_run_by_another_streams_to_subscribers_on_all() {
    let cluster = Cluster::new().await;
    // Only b has workers: a accepts the job, b runs it, a and c stream it.
    let a = cluster.node("a", 0, &[]).await;
    let b = cluster.node("b", 2, &[]).await;
    let c = cluster.node("c", 0, &[]).await;
    let mut on_a = a.events("/api/events", None).await;
    let mut on_c = c.events("/api/events", None).await;

    let job = a
        .start_job(json!({ "kind": "demo", "params": { "steps": 5, "stepMs": 60 } }))
        .await;
    let seen_a = collect_until(&mut on_a, ends(&job)).await;
    let seen_c = collect_until(&mut on_c, ends(&job)).await;

    assert_strictly_increasing(&seen_a);
    assert_eq!(
        keys(&seen_a),
        keys(&seen_c),
        "both nodes stream the same events"
    );
    let kinds: Vec<String> = seen_a.iter().map(|e| e.event.clone()).collect();
    assert_eq!(kinds.first().map(String::as_str), Some("created"));
    assert_eq!(kinds.last().map(String::as_str), Some("completion"));
    assert!(
        kinds.iter().filter(|k| *k == "status-update").count() >= 5,
        "every step's progress: {kinds:?}"
    );
    // Exactly the log, as any node reads it back.
    let log = c.replay(EventId(0), ends(&job)).await;
    assert_eq!(keys(&log), keys(&seen_a));
    // It ran on b.
    assert!(
        b.logs().contains(&format!("id={}", job.id)),
        "b ran the job; its log:\n{}",
        b.logs()
    );
    assert_eq!(a.job(job.id).await.status, app::job::JobStatus::Completed);
}

#[tokio::test]
async fn a_stream_resumes_on_another_node_after_its_last_event_id() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a", 0, &[]).await;
    let b = cluster.node("b", 1, &[]).await;
    let c = cluster.node("c", 0, &[]).await;
    let job = a
        .start_job(json!({ "kind": "demo", "params": { "steps": 8, "stepMs": 80 } }))
        .await;
    let path = format!("/api/jobs/{}/events", job.id);

    // A few events on a, then the connection drops mid-job.
    let mut on_a = a.events(&path, None).await;
    let mut count = 0;
    let first = collect_until(&mut on_a, |e| {
        count += usize::from(!e.id.is_empty());
        count == 4
    })
    .await;
    drop(on_a);
    let last = id_of(first.iter().rev().find(|e| !e.id.is_empty()).unwrap());

    // The client comes back through another node, as EventSource does.
    let mut on_c = c.events(&path, Some(last)).await;
    let rest = collect_until(&mut on_c, ends(&job)).await;

    let mut together = keys(&first);
    together.extend(keys(&rest));
    let log = b.replay(EventId(0), ends(&job)).await;
    assert_eq!(together, keys(&log), "no gap, no duplicate");
}

/// The trap of sequence ids: many writers on two nodes commit concurrently, while a
/// reader hops between nodes with `Last-Event-ID`. It must see every id of the log,
/// once, in order.
#[tokio::test]
async fn a_reader_hopping_nodes_sees_every_event_of_writers_racing_on_two_nodes() {
    let cluster = Cluster::new().await;
    let a = cluster
        .node("a", 8, &[("CANDOR_PROGRESS_INTERVAL_MS", "0")])
        .await;
    let b = cluster
        .node("b", 8, &[("CANDOR_PROGRESS_INTERVAL_MS", "0")])
        .await;
    let c = cluster.node("c", 0, &[]).await;
    const JOBS: usize = 40;

    let reader = async {
        let nodes = [&c, &a, &b];
        let mut seen: Vec<Event> = Vec::new();
        let mut ended = HashSet::new();
        let mut hop = 0;
        while ended.len() < JOBS {
            let node = nodes[hop % nodes.len()];
            hop += 1;
            let last = seen.last().map_or(EventId(0), id_of);
            let mut stream = node
                .events(&format!("/api/events?after={last}"), Some(last))
                .await;
            let mut taken = 0;
            let batch = collect_until(&mut stream, |e| {
                if !e.id.is_empty() {
                    taken += 1;
                    if let JobEvent::Completion(done) = decode(e) {
                        ended.insert(done.job_id);
                    }
                }
                taken == 25 || ended.len() == JOBS
            })
            .await;
            seen.extend(batch.into_iter().filter(|e| !e.id.is_empty()));
        }
        seen
    };
    let writers = async {
        let posts = (0..JOBS).map(|n| {
            let node = if n % 2 == 0 { &a } else { &b };
            node.start_job(json!({ "kind": "demo", "params": { "steps": 6, "stepMs": 5 } }))
        });
        futures::future::join_all(posts).await
    };
    let (seen, jobs) = tokio::join!(reader, writers);
    assert_eq!(jobs.len(), JOBS);

    assert_strictly_increasing(&seen);
    let log = c
        .replay(EventId(0), |e| e.id == seen.last().unwrap().id)
        .await;
    let seen_ids: Vec<EventId> = seen.iter().map(id_of).collect();
    let log_ids: Vec<EventId> = log.iter().filter(|e| !e.id.is_empty()).map(id_of).collect();
    assert_eq!(seen_ids.len(), log_ids.len(), "every event, once");
    assert_eq!(seen_ids, log_ids);
    // Both nodes ran jobs.
    for node in [&a, &b] {
        assert!(node.logs().contains("started"), "{}", node.logs());
    }
}
