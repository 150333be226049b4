//! The polling baseline: the same watchers follow Candor jobs either by polling
//! `GET /api/jobs/{id}` at a fixed interval or by holding the job's event stream
//! (`GET /api/jobs/{id}/events`). Reports requests and bytes per second (each counted on
//! the wire, HTTP heads included, over the whole run: connecting, warm-up and window) and
//! the staleness of each change: from the moment the server stamped it (`at`, read from a
//! reference stream on `/api/events`) until the watcher knew of it (a poll that returned
//! that change or a later one, or the event itself).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http1::{self, Connection};
use crate::{Args, complete_lines, field_number, micros_of_day, note, now_micros_of_day, target};

#[derive(Default)]
struct Wire {
    requests: AtomicU64,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
    errors: AtomicU64,
}

/// Each job's changes: (event id, microseconds of day it was stamped).
type Changes = Arc<Mutex<HashMap<String, Vec<(i64, i64)>>>>;

/// What a watcher learned: (the job's last event id, microseconds of day when learned).
type Seen = Vec<(i64, i64)>;

pub(crate) async fn run(args: &Args, how: &str) -> serde_json::Value {
    let base = args.url.trim_end_matches('/').to_owned();
    let site = target(&base);
    let token = args.token.clone().unwrap_or_default();
    let step_ms = args.step_ms;
    let jobs_wanted = args.watch_jobs;
    let run_secs = args.warmup + args.seconds;

    // The reference: every event's id, job and stamp, from the all-events stream.
    let changes: Changes = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    tokio::spawn(reference(
        site.addr.clone(),
        site.host.clone(),
        token.clone(),
        changes.clone(),
        stop.clone(),
    ));

    // The jobs, each reporting every `step_ms` for longer than the run.
    let steps = ((run_secs + 10) * 1000 / step_ms).clamp(2, 100);
    let client = reqwest::Client::new();
    let mut jobs = Vec::new();
    let mut refused = 0;
    for _ in 0..jobs_wanted {
        let response = crate::demo_job(&client, &base, Some(&token), steps, step_ms)
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 202 => {
                let job: serde_json::Value = r.json().await.unwrap_or_default();
                jobs.push(job["id"].as_str().unwrap_or_default().to_owned());
            }
            Ok(r) => {
                refused += 1;
                if refused == 1 {
                    note(&format!(
                        "a job was refused: {} {:?}",
                        r.status(),
                        r.text().await
                    ));
                }
            }
            Err(err) => {
                refused += 1;
                note(&format!("a job could not be started: {err}"));
            }
        }
    }
    if jobs.is_empty() {
        return serde_json::json!({"label": args.label, "failed": true, "refused": refused});
    }

    let wire = Arc::new(Wire::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut watchers = Vec::new();
    for w in 0..args.subscribers {
        let job = jobs[w % jobs.len()].clone();
        let (addr, host, token) = (site.addr.clone(), site.host.clone(), token.clone());
        let (wire, measuring, stop) = (wire.clone(), measuring.clone(), stop.clone());
        let poll = Duration::from_millis(args.poll_ms);
        // Polls are spread evenly over the interval, as independent watchers' would be,
        // in an order unrelated to the jobs' (which started one after the other).
        let slot = (w as u64 * 7919) % args.subscribers as u64;
        let offset = poll * slot as u32 / args.subscribers as u32;
        let sse = how == "sse";
        watchers.push(tokio::spawn(async move {
            let seen = if sse {
                watch_stream(&addr, &host, &token, &job, &wire, &measuring, &stop).await
            } else {
                watch_polling(
                    &addr, &host, &token, &job, poll, offset, &wire, &measuring, &stop,
                )
                .await
            };
            (job, seen)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let window_start = now_micros_of_day();
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let window_end = now_micros_of_day();
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let requests = wire.requests.load(Ordering::Relaxed);
    let bytes = wire.bytes_in.load(Ordering::Relaxed) + wire.bytes_out.load(Ordering::Relaxed);

    // Staleness of each change made in the window (but the last poll interval's and a
    // second's, which a poll may not have had the chance to see yet).
    let mut learned = Vec::with_capacity(watchers.len());
    for watcher in watchers {
        learned.extend(watcher.await);
    }
    let changes = changes.lock().unwrap();
    let until = window_end - (args.poll_ms as i64 + 1000) * 1000;
    let mut staleness = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    let mut unseen = 0u64;
    for (job, seen) in learned {
        let Some(job_changes) = changes.get(&job) else {
            continue;
        };
        let mut next = 0;
        for &(id, at) in job_changes
            .iter()
            .filter(|(_, at)| (window_start..until).contains(at))
        {
            while next < seen.len() && seen[next].0 < id {
                next += 1;
            }
            match seen.get(next) {
                Some(&(_, learned)) => {
                    let _ = staleness.record((learned - at).max(1) as u64);
                }
                None => unseen += 1,
            }
        }
    }
    let ms = |micros: f64| micros / 1000.0;
    serde_json::json!({
        "label": args.label,
        "watch": how,
        "watchers": args.subscribers,
        "jobs": jobs.len(),
        "changesPerSec": jobs.len() as f64 * 1000.0 / step_ms as f64,
        "runSecs": elapsed,
        "requests": requests,
        "requestsPerSec": requests as f64 / elapsed,
        "bytesPerSec": bytes as f64 / elapsed,
        "changesMeasured": staleness.len(),
        "changesUnseen": unseen,
        "meanStalenessMs": ms(staleness.mean()),
        "p50StalenessMs": ms(staleness.value_at_quantile(0.5) as f64),
        "p99StalenessMs": ms(staleness.value_at_quantile(0.99) as f64),
        "errors": wire.errors.load(Ordering::Relaxed) + refused,
    })
}

/// Opens a connection and sends `request`, counting it.
async fn send(addr: &str, request: &[u8], wire: &Wire) -> Option<TcpStream> {
    let mut socket = TcpStream::connect(addr).await.ok()?;
    socket.write_all(request).await.ok()?;
    wire.requests.fetch_add(1, Ordering::Relaxed);
    wire.bytes_out
        .fetch_add(request.len() as u64, Ordering::Relaxed);
    Some(socket)
}

/// Reads `"lastEventId":N` from a job's JSON.
fn last_event_id(body: &[u8]) -> Option<i64> {
    let at = memmem::find(body, b"\"lastEventId\":")? + 14;
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

#[allow(clippy::too_many_arguments)]
async fn watch_polling(
    addr: &str,
    host: &str,
    token: &str,
    job: &str,
    every: Duration,
    offset: Duration,
    wire: &Wire,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> Seen {
    let request = http1::get(
        &format!("/api/jobs/{job}"),
        host,
        "application/json",
        Some(token),
    );
    let mut seen = Seen::new();
    let mut connection = Connection::new(addr);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        wire.requests.fetch_add(1, Ordering::Relaxed);
        match connection.exchange(request.as_bytes()).await {
            Some(exchange) if exchange.status == 200 => {
                wire.bytes_out
                    .fetch_add(exchange.bytes_out as u64, Ordering::Relaxed);
                wire.bytes_in
                    .fetch_add(exchange.bytes_in as u64, Ordering::Relaxed);
                if measuring.load(Ordering::Relaxed)
                    && let Some(id) = last_event_id(&connection.response)
                {
                    seen.push((id, now_micros_of_day()));
                }
            }
            _ => {
                wire.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    seen
}

async fn watch_stream(
    addr: &str,
    host: &str,
    token: &str,
    job: &str,
    wire: &Wire,
    measuring: &AtomicBool,
    stop: &AtomicBool,
) -> Seen {
    let request = http1::get(
        &format!("/api/jobs/{job}/events"),
        host,
        "text/event-stream",
        Some(token),
    );
    let mut seen = Seen::new();
    let Some(mut socket) = send(addr, request.as_bytes(), wire).await else {
        wire.errors.fetch_add(1, Ordering::Relaxed);
        return seen;
    };
    let mut buffer = vec![0u8; 8 * 1024];
    let mut carry = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let read = tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buffer)).await;
        let n = match read {
            Err(_) => continue,
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => n,
        };
        wire.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        carry.extend_from_slice(&buffer[..n]);
        complete_lines(&mut carry, |line| {
            if let Some(id) = line.strip_prefix(b"id:").and_then(field_number)
                && measuring.load(Ordering::Relaxed)
            {
                seen.push((id, now_micros_of_day()));
            }
        });
    }
    seen
}

/// Follows `/api/events` and notes each event's id and stamp, by job.
async fn reference(
    addr: String,
    host: String,
    token: String,
    changes: Changes,
    stop: Arc<AtomicBool>,
) {
    let request = http1::get("/api/events", &host, "text/event-stream", Some(&token));
    let Some(mut socket) = send(&addr, request.as_bytes(), &Wire::default()).await else {
        note("the reference stream did not open");
        return;
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut carry = Vec::new();
    let mut id = 0i64;
    let job_key = memmem::Finder::new(b"\"jobId\":\"");
    let at_key = memmem::Finder::new(b"\"at\":\"");
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = socket.read(&mut buffer).await else {
            return;
        };
        if n == 0 {
            return;
        }
        carry.extend_from_slice(&buffer[..n]);
        complete_lines(&mut carry, |line| {
            if let Some(value) = line.strip_prefix(b"id:") {
                id = field_number(value).unwrap_or(0);
            } else if line.starts_with(b"data:")
                && let (Some(j), Some(a)) = (job_key.find(line), at_key.find(line))
                && let Some(at) = micros_of_day(&line[a + 6..])
            {
                let job = &line[j + 9..];
                let job = String::from_utf8_lossy(&job[..job.len().min(36)]).into_owned();
                let mut changes = changes.lock().unwrap();
                changes.entry(job).or_default().push((id, at));
            }
        });
    }
}
