//! `GET /metrics` on the admin address, read with a real Prometheus parser before and
//! after jobs run: every series moves by what happened, and no more.

use app::event::JobEvent;
use prometheus_parse::{Scrape, Value};
use serde_json::json;

use crate::process::{Server, collect_until, data_dir, decode, free_port};

/// A scrape of `admin`'s `/metrics`.
async fn scrape(admin: &str) -> Scrape {
    let response = reqwest::get(format!("{admin}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("the text format")
}

/// The value of `name` with every label in `labels` (0 if absent: a series appears once
/// it is first counted).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => panic!("{name} is a summary"),
        })
        .sum()
}

fn admin_env(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

#[tokio::test]
async fn every_series_moves_by_what_the_jobs_and_streams_did() {
    let data = data_dir();
    let admin_port = free_port();
    let admin_addr = admin_env(admin_port);
    let server = Server::start(
        data.path(),
        free_port(),
        &[("CANDOR_ADMIN_ADDR", &admin_addr), ("CANDOR_WORKERS", "4")],
    )
    .await;
    let admin = format!("http://{admin_addr}");
    // Not on the public address.
    let public = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(public.status(), 404, "the metrics are not public");

    let before = scrape(&admin).await;
    let mut stream = server.events("/api/events", None).await;
    let during = scrape(&admin).await;
    assert_eq!(value(&during, "candor_sse_streams_open", &[]), 1.0);

    let ok = json!({"kind": "demo", "params": {"steps": 3, "stepMs": 10}});
    let failing = json!({"kind": "demo", "params": {"steps": 3, "stepMs": 10, "failAt": 2}});
    let slow = json!({"kind": "demo", "params": {"steps": 100, "stepMs": 1000}});
    let mut jobs = vec![
        server.start_job(ok.clone()).await,
        server.start_job(ok).await,
        server.start_job(failing).await,
    ];
    let cancelled = server.start_job(slow).await;
    let response = server
        .post(&format!("/api/jobs/{}/cancel", cancelled.id), json!({}))
        .await;
    assert_eq!(response.status(), 200);
    jobs.push(cancelled);
    // Every job's ending, through the one stream.
    let mut ended = 0;
    let seen = collect_until(&mut stream, |event| {
        ended += usize::from(decode(event).is_terminal());
        ended == jobs.len()
    })
    .await;

    let after = scrape(&admin).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let demo = ("kind", "demo");
    assert_eq!(moved("candor_jobs_accepted_total", &[demo]), 4.0);
    assert_eq!(
        moved("candor_jobs_ended_total", &[demo, ("outcome", "completed")]),
        2.0
    );
    assert_eq!(
        moved("candor_jobs_ended_total", &[demo, ("outcome", "failed")]),
        1.0
    );
    assert_eq!(
        moved("candor_jobs_ended_total", &[demo, ("outcome", "cancelled")]),
        1.0
    );
    // How long each completed job ran.
    assert_eq!(
        moved(
            "candor_job_duration_seconds",
            &[demo, ("outcome", "completed")]
        ),
        2.0
    );
    // The one stream got every event written since it opened: each is counted once
    // written, and once delivered.
    assert_eq!(
        moved("candor_events_delivered_total", &[]),
        seen.len() as f64
    );
    assert_eq!(moved("candor_events_written_total", &[]), seen.len() as f64);
    assert!(moved("candor_sse_bytes_streamed_total", &[]) > 0.0);
    assert!(moved("candor_store_commit_seconds", &[]) >= 1.0);
    assert_eq!(value(&after, "candor_jobs_queued", &[]), 0.0);

    // Five long jobs for four workers: once four run, one waits in the queue.
    let busy = json!({"kind": "demo", "params": {"steps": 100, "stepMs": 1000}});
    for _ in 0..5 {
        server.start_job(busy.clone()).await;
    }
    let mut started = 0;
    collect_until(&mut stream, |event| {
        if let JobEvent::StatusUpdate(update) = decode(event) {
            started += usize::from(update.step.as_deref() == Some("Starting"));
        }
        started == 4
    })
    .await;
    assert_eq!(value(&scrape(&admin).await, "candor_jobs_queued", &[]), 1.0);
}
