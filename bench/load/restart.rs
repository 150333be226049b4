//! The restart scenario: `--restart N` spec-following subscribers of one owner's stream
//! (`--url` is Candor's base URL) hold their streams while the script kills the server
//! with SIGKILL and starts it again. Each subscriber does what the EventSource
//! specification says: when its stream ends or cannot be opened it waits the last
//! `retry:` it was sent, then asks again with `Last-Event-ID`; a `429` or `503` is
//! waited out (`Retry-After`).
//!
//! Once every subscriber holds a stream it prints `ready` on stderr (the script then
//! starts jobs and kills the server). It measures, from the first stream that broke:
//! the time until every subscriber was back, the reconnects per second at the peak, and
//! the requests that failed (refused, or no server). When nothing has arrived for a
//! while, every subscriber's events are checked against the log read once more from the
//! start: events lost (in the log after the subscriber's first event, never received)
//! and events received twice must both be 0.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;

use crate::Args;

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    ids: Vec<i64>,
    /// When its streams opened, after the first.
    reopened: Vec<Instant>,
    /// When a stream of its broke.
    broke: Vec<Instant>,
}

struct Shared {
    base: String,
    token: String,
    client: reqwest::Client,
    failed: AtomicU64,
    /// Subscribers whose stream broke, and those of them that are back.
    broke: AtomicU64,
    back: AtomicU64,
    /// The last moment any event arrived.
    last_event: Mutex<Instant>,
    stop: tokio_util::sync::CancellationToken,
}

pub(crate) async fn run(args: &Args, subscribers: usize) -> String {
    let shared = Arc::new(Shared {
        base: args.url.trim_end_matches('/').to_owned(),
        token: args.token.clone().expect("--token"),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client"),
        failed: AtomicU64::new(0),
        broke: AtomicU64::new(0),
        back: AtomicU64::new(0),
        last_event: Mutex::new(Instant::now()),
        stop: tokio_util::sync::CancellationToken::new(),
    });
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(subscribers);
    let tasks: Vec<_> = (0..subscribers)
        .map(|_| tokio::spawn(subscribe(shared.clone(), opened_tx.clone())))
        .collect();
    for _ in 0..subscribers {
        opened_rx.recv().await;
    }
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "ready");
    }
    // Until every subscriber's stream broke and came back, and then nothing arrived for
    // 5 s (or 5 minutes passed).
    let (quiet, give_up) = (
        Duration::from_secs(5),
        Instant::now() + Duration::from_secs(300),
    );
    let all = subscribers as u64;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let silent = shared.last_event.lock().unwrap().elapsed() >= quiet;
        let back = shared.back.load(Ordering::Relaxed) == all;
        if silent && back || Instant::now() > give_up {
            break;
        }
    }
    shared.stop.cancel();
    let seen: Vec<Seen> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("a subscriber"))
        .collect();
    let log = read_log(&shared).await;
    report(&seen, &log, shared.failed.load(Ordering::Relaxed))
}

/// One spec-following subscriber, until `stop`.
async fn subscribe(shared: Arc<Shared>, opened: tokio::sync::mpsc::Sender<()>) -> Seen {
    let mut seen = Seen::default();
    let mut retry = Duration::from_secs(3);
    let mut first = true;
    while !shared.stop.is_cancelled() {
        let mut request = shared
            .client
            .get(format!("{}/api/events", shared.base))
            .bearer_auth(&shared.token)
            .header("accept", "text/event-stream");
        if let Some(last) = seen.ids.last() {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = tokio::select! {
            response = request.send() => response,
            () = shared.stop.cancelled() => break,
        };
        match response {
            Ok(response) if response.status() == 200 => {
                if first {
                    first = false;
                    let _ = opened.send(()).await;
                } else {
                    if seen.reopened.is_empty() {
                        shared.back.fetch_add(1, Ordering::Relaxed);
                    }
                    seen.reopened.push(Instant::now());
                }
                let mut events = response.bytes_stream().eventsource();
                loop {
                    let event = tokio::select! {
                        event = events.next() => event,
                        () = shared.stop.cancelled() => return seen,
                    };
                    let Some(Ok(event)) = event else { break };
                    if let Some(wait) = event.retry {
                        retry = wait;
                    }
                    if let Ok(id) = event.id.parse::<i64>()
                        && event.event != "heartbeat"
                        && event.event != "queue"
                    {
                        seen.ids.push(id);
                        *shared.last_event.lock().unwrap() = Instant::now();
                    }
                }
                if seen.broke.is_empty() {
                    shared.broke.fetch_add(1, Ordering::Relaxed);
                }
                seen.broke.push(Instant::now());
            }
            Ok(response) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                let asked = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .map(Duration::from_secs);
                if let Some(asked) = asked {
                    tokio::time::sleep(asked.saturating_sub(retry)).await;
                }
            }
            Err(_) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = shared.stop.cancelled() => break,
        }
    }
    seen
}

/// Every event id of the owner's log, read once more from the start (until 2 s pass
/// without one).
async fn read_log(shared: &Shared) -> Vec<i64> {
    let response = shared
        .client
        .get(format!("{}/api/events", shared.base))
        .bearer_auth(&shared.token)
        .header("Last-Event-ID", "0")
        .send()
        .await
        .expect("the log");
    let mut events = response.bytes_stream().eventsource();
    let mut ids = Vec::new();
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_secs(2), events.next()).await
    {
        if let Ok(id) = event.id.parse::<i64>()
            && event.event != "heartbeat"
        {
            ids.push(id);
        }
    }
    ids
}

fn report(seen: &[Seen], log: &[i64], failed: u64) -> String {
    let first_break = seen.iter().filter_map(|s| s.broke.first()).min().copied();
    let back: Vec<Instant> = seen
        .iter()
        .filter_map(|s| {
            s.reopened
                .iter()
                .find(|at| Some(**at) > first_break)
                .copied()
        })
        .collect();
    let all_back_secs = match (first_break, back.iter().max()) {
        (Some(broke), Some(last)) if back.len() == seen.len() => {
            Some(last.duration_since(broke).as_secs_f64())
        }
        _ => None,
    };
    // Reconnects per second at the peak, in 100 ms buckets.
    let peak = first_break.map_or(0, |broke| {
        let mut buckets = std::collections::HashMap::<u64, u64>::new();
        for at in &back {
            *buckets
                .entry(at.duration_since(broke).as_millis() as u64 / 100)
                .or_default() += 1;
        }
        buckets.values().max().copied().unwrap_or(0) * 10
    });
    let (mut lost, mut doubled) = (0u64, 0u64);
    for subscriber in seen {
        let received: HashSet<i64> = subscriber.ids.iter().copied().collect();
        doubled += (subscriber.ids.len() - received.len()) as u64;
        if let Some(first) = subscriber.ids.first() {
            lost += log
                .iter()
                .filter(|id| *id >= first && !received.contains(id))
                .count() as u64;
        }
    }
    let events_each = seen.iter().map(|s| s.ids.len()).min().unwrap_or(0);
    serde_json::json!({
        "subscribers": seen.len(),
        "broke": seen.iter().filter(|s| !s.broke.is_empty()).count(),
        "back": back.len(),
        "allBackSecs": all_back_secs,
        "peakReconnectsPerSec": peak,
        "failedRequests": failed,
        "logEvents": log.len(),
        "fewestEventsReceived": events_each,
        "lost": lost,
        "doubled": doubled,
    })
    .to_string()
}
