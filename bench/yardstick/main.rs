//! The yardstick: the bare axum 0.8 broadcast SSE server, nothing else. One
//! `tokio::sync::broadcast`, `Sse` over `BroadcastStream`; a publisher emits `BENCH_RATE`
//! events a second (default 100) shaped like Candor's `status-update`, stamped with the
//! time they were published (`at`, RFC 3339 with microseconds), and padded to
//! `BENCH_EVENT_BYTES` on the wire (what Candor's events measured in the same run), so
//! that every server carries alike events.
//!
//!   cargo run --release -p server --example yardstick   # BENCH_ADDR=127.0.0.1:3901
//!
//! `GET /events` subscribes; `GET /start` starts publishing (once the subscribers are
//! connected); `GET /burst?jobs=50&events=5000&bytes=0` publishes a burst instead: that
//! many progress events taking the jobs in turn, as fast as they go (yielding after each
//! event, as an async job would), then each job's `completion`, every event padded to
//! `bytes`; `GET /healthz` answers once it serves.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[tokio::main]
async fn main() {
    let addr = std::env::var("BENCH_ADDR").unwrap_or_else(|_| "127.0.0.1:3901".into());
    let rate: u64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let event_bytes: usize = std::env::var("BENCH_EVENT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let (sender, _) = broadcast::channel::<Event>(1024);
    let publisher = sender.clone();
    let start = std::sync::Arc::new(tokio::sync::Notify::new());
    let starting = start.clone();
    tokio::spawn(async move {
        starting.notified().await;
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let job = "7d4c1e0a-0000-4000-8000-000000000000";
        for id in 1u64.. {
            tick.tick().await;
            let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let data = format!(
                r#"{{"jobId":"{job}","status":"running","progress":{},"step":"Step {id}","at":"{at}"}}"#,
                id % 100
            );
            let _ = publisher.send(event(id, "status-update", data, event_bytes));
        }
    });
    let bursting = sender.clone();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/burst",
            get(move |Query(burst): Query<BurstParams>| async move {
                tokio::spawn(publish_burst(bursting, burst));
                "started"
            }),
        )
        .route(
            "/start",
            get(move || async move {
                start.notify_one();
                "started"
            }),
        )
        .route(
            "/events",
            get(move || {
                let receiver = sender.subscribe();
                async move { Sse::new(events(receiver)) }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

#[derive(serde::Deserialize)]
struct BurstParams {
    jobs: u64,
    /// Progress events in all, before the endings.
    events: u64,
    #[serde(default)]
    bytes: usize,
}

/// An event whose frame is about `bytes` long on the wire (`id:`, `event:`, `data:` and
/// the chunk's framing): `data` gains a `detail` field of filler.
fn event(id: u64, name: &str, mut data: String, bytes: usize) -> Event {
    let id = id.to_string();
    // "id: \nevent: \ndata: \n\n", the chunk's size line and CRLFs, `,"detail":""`.
    let frame = id.len() + name.len() + data.len() + 21 + 7 + 12;
    if bytes > frame && data.ends_with('}') {
        data.pop();
        data.push_str(r#","detail":""#);
        data.extend(std::iter::repeat_n('-', bytes - frame));
        data.push_str(r#""}"#);
    }
    Event::default().id(id).event(name).data(data)
}

async fn publish_burst(sender: broadcast::Sender<Event>, burst: BurstParams) {
    let job = |j: u64| format!("7d4c1e0a-0000-4000-8000-{j:012}");
    let mut id = 0u64;
    let mut next = |kind: &str, data: String| {
        id += 1;
        event(id, kind, data, burst.bytes)
    };
    let steps = burst.events.div_ceil(burst.jobs.max(1)).max(1);
    for n in 0..burst.events {
        let (j, step) = (n % burst.jobs.max(1), n / burst.jobs.max(1) + 1);
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let data = format!(
            r#"{{"jobId":"{}","status":"running","progress":{},"step":"Step {step}","at":"{at}"}}"#,
            job(j),
            step * 100 / steps
        );
        let _ = sender.send(next("status-update", data));
        tokio::task::yield_now().await;
    }
    for j in 0..burst.jobs {
        let data = format!(r#"{{"jobId":"{}","url":null}}"#, job(j));
        let _ = sender.send(next("completion", data));
        tokio::task::yield_now().await;
    }
}

fn events(receiver: broadcast::Receiver<Event>) -> impl Stream<Item = Result<Event, Infallible>> {
    BroadcastStream::new(receiver).filter_map(|event| async move { event.ok().map(Ok) })
}
