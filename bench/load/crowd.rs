//! The crowd: many people at once, each watching their own jobs. `--crowd N` makes N
//! anonymous identities (one cookieless page visit each, as N browsers would), opens one
//! stream per identity (`GET /api/events` with its cookie), then starts `--crowd-jobs`
//! demo jobs spread evenly over the identities, each reporting every `--crowd-step-ms` (a
//! progress event and a log line per step: 10 events a second at 200 ms).
//!
//! Reports, over the measured window: events delivered per second, publish-to-receive
//! latency (each event's `at` against the clock on arrival), the server's CPU and CPU per
//! delivered event, its RSS with the streams held and with the jobs running. Then it waits
//! for every job's ending and checks that every stream got every event of its owner's
//! jobs: each job's events are read again from the log (`GET /api/jobs/{id}/events`, which
//! ends with the job) and counted against what the owner's live stream received.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use memchr::memmem;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http1::Connection;
use crate::{
    Args, Target, complete_lines, micros_of_day, note, now_micros_of_day, process_stats, target,
};

/// How many requests (identities, jobs, replays) are in flight at once.
const CONCURRENCY: usize = 32;

/// One owner's stream, as the load generator saw it.
#[derive(Default)]
struct Watcher {
    /// Every event received (the window or not).
    events: AtomicU64,
    /// Endings received.
    endings: AtomicU64,
}

struct Shared {
    site: Target,
    measuring: AtomicBool,
    /// Events received within the window, by all streams.
    window_events: AtomicU64,
    errors: AtomicU64,
    held: AtomicU64,
    latencies: Vec<Mutex<Histogram<u64>>>,
    sample_every: u64,
}

pub(crate) async fn run(args: &Args, owners: usize) -> serde_json::Value {
    let base = args.url.trim_end_matches('/').to_owned();
    let shared = Arc::new(Shared {
        site: target(&base),
        measuring: AtomicBool::new(false),
        window_events: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        held: AtomicU64::new(0),
        latencies: (0..64)
            .map(|_| Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()))
            .collect(),
        sample_every: args.sample_every.max(1),
    });
    let pid = args.server_pid;
    let before = pid.and_then(process_stats);

    // 1. The identities: one cookieless page visit each.
    let minting = Instant::now();
    let cookies = mint(&shared, owners).await;
    let mint_secs = minting.elapsed().as_secs_f64();
    note(&format!("{} identities in {mint_secs:.1} s", cookies.len()));

    // 2. One stream each (unless nobody watches).
    let watchers: Arc<Vec<Watcher>> =
        Arc::new((0..cookies.len()).map(|_| Watcher::default()).collect());
    let opening = Instant::now();
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(1024);
    let mut pending = 0;
    let mut held = 0usize;
    let watching = if args.crowd_streams {
        &cookies[..]
    } else {
        &[]
    };
    for (index, cookie) in watching.iter().enumerate() {
        if pending >= 256 {
            held += usize::from(connected_rx.recv().await == Some(true));
            pending -= 1;
        }
        tokio::spawn(watch(
            shared.clone(),
            watchers.clone(),
            index,
            cookie.clone(),
            connected_tx.clone(),
        ));
        pending += 1;
    }
    while pending > 0 {
        held += usize::from(connected_rx.recv().await == Some(true));
        pending -= 1;
    }
    let connect_secs = opening.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let streams_held = pid.and_then(process_stats);
    note(&format!("{held} streams held in {connect_secs:.1} s"));

    // 3. The jobs, spread evenly over the owners, started evenly over one step.
    let run_secs = args.warmup + args.seconds;
    let step_ms = args.crowd_step_ms;
    let steps = ((run_secs + 10) * 1000 / step_ms.max(1)).clamp(2, 100);
    let jobs = start_jobs(&shared, &cookies, args.crowd_jobs, steps, step_ms).await;
    note(&format!(
        "{} jobs started ({steps} steps of {step_ms} ms)",
        jobs.len()
    ));

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let start = pid.and_then(process_stats);
    shared.measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let end = pid.and_then(process_stats);
    // Delivered events, or (nobody watching) the events the jobs wrote in the window at
    // their rate, the server keeping up.
    let events = if args.crowd_streams {
        shared.window_events.load(Ordering::Relaxed)
    } else {
        (jobs.len() as f64 * 2000.0 / step_ms as f64 * elapsed) as u64
    };

    // 4. Every ending, then every event of every job against what its owner received.
    let ending_by = Instant::now() + Duration::from_secs(steps * step_ms / 1000 + 60);
    while args.crowd_streams && Instant::now() < ending_by {
        let ended: u64 = watchers
            .iter()
            .map(|w| w.endings.load(Ordering::Relaxed))
            .sum();
        if ended >= jobs.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The last events may still be on their way after the ending: a moment for them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (logged, missing) = if args.crowd_streams {
        check(&shared, &cookies, &jobs, &watchers).await
    } else {
        (0, 0)
    };

    let mut merged = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    for shard in &shared.latencies {
        merged.add(&*shard.lock().unwrap()).unwrap();
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    let cpu_secs = match (start, end) {
        (Some((_, a)), Some((_, b))) => Some((b - a) as f64 / 100.0),
        _ => None,
    };
    let kib_per = |from: Option<(u64, u64)>, to: Option<(u64, u64)>, n: usize| match (from, to) {
        (Some((a, _)), Some((b, _))) if n > 0 => Some((b as f64 - a as f64) / n as f64),
        _ => None,
    };
    serde_json::json!({
        "label": args.label,
        "owners": owners,
        "streams": args.crowd_streams,
        "identities": cookies.len(),
        "mintSecs": mint_secs,
        "held": held,
        "heldAtEnd": shared.held.load(Ordering::Relaxed),
        "connectSecs": connect_secs,
        "jobs": jobs.len(),
        "stepMs": step_ms,
        "expectedPerSec": jobs.len() as f64 * 2000.0 / step_ms as f64,
        "events": events,
        "eventsPerSec": events as f64 / elapsed,
        "latencySamples": merged.len(),
        "p50Ms": ms(merged.value_at_quantile(0.5)),
        "p99Ms": ms(merged.value_at_quantile(0.99)),
        "maxMs": ms(merged.max()),
        "serverCpuPercent": cpu_secs.map(|s| s / elapsed * 100.0),
        "serverCpuMicrosPerEvent": cpu_secs.filter(|_| events > 0).map(|s| s * 1e6 / events as f64),
        "serverRssBeforeKib": before.map(|s| s.0),
        "serverRssStreamsKib": streams_held.map(|s| s.0),
        "serverRssRunningKib": end.map(|s| s.0),
        "rssPerStreamKib": kib_per(before, streams_held, held),
        "rssPerRunningJobKib": kib_per(streams_held, end, jobs.len()),
        "eventsInLog": logged,
        "eventsMissing": missing,
        "errors": shared.errors.load(Ordering::Relaxed),
    })
}

/// `count` new identities: the session cookie (`name=value`) each cookieless visit got.
async fn mint(shared: &Arc<Shared>, count: usize) -> Vec<String> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (shared, next) = (shared.clone(), next.clone());
        tasks.spawn(async move {
            let mut connection = Connection::new(&shared.site.addr);
            let request = format!(
                "GET /favicon.svg HTTP/1.1\r\nhost: {}\r\naccept: image/svg+xml\r\n\r\n",
                shared.site.host
            );
            let mut cookies = Vec::new();
            while (next.fetch_add(1, Ordering::Relaxed) as usize) < count {
                // Any answer that gives an identity (a site built without its files
                // answers the favicon with 404, an identity all the same).
                let cookie = match connection.exchange(request.as_bytes()).await {
                    Some(exchange) if exchange.status < 500 => set_cookie(&connection.response),
                    _ => None,
                };
                match cookie {
                    Some(cookie) => cookies.push(cookie),
                    None => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            cookies
        });
    }
    let mut cookies = Vec::with_capacity(count);
    while let Some(made) = tasks.join_next().await {
        cookies.extend(made.unwrap_or_default());
    }
    cookies
}

/// The `name=value` of a response's `Set-Cookie`.
fn set_cookie(response: &[u8]) -> Option<String> {
    let head = memmem::find(response, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..head]).ok()?;
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("set-cookie").then(|| {
            value
                .trim()
                .split(';')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    })
}

/// One owner's stream: counts its events and endings, samples their latency.
async fn watch(
    shared: Arc<Shared>,
    watchers: Arc<Vec<Watcher>>,
    index: usize,
    cookie: String,
    connected: tokio::sync::mpsc::Sender<bool>,
) {
    let failed = |shared: &Shared| {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    };
    let Ok(Ok(mut socket)) = tokio::time::timeout(
        Duration::from_secs(20),
        TcpStream::connect(&shared.site.addr),
    )
    .await
    else {
        failed(&shared);
        let _ = connected.send(false).await;
        return;
    };
    let request = format!(
        "GET /api/events HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\ncookie: {cookie}\r\n\r\n",
        shared.site.host
    );
    if socket.write_all(request.as_bytes()).await.is_err() {
        failed(&shared);
        let _ = connected.send(false).await;
        return;
    }
    let mut buffer = vec![0u8; 8 * 1024];
    let mut carry: Vec<u8> = Vec::with_capacity(1024);
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => {
                carry.extend_from_slice(&buffer[..n]);
                if let Some(end) = memmem::find(&carry, b"\r\n\r\n") {
                    let ok = carry.starts_with(b"HTTP/1.1 200");
                    if !ok {
                        failed(&shared);
                    }
                    let _ = connected.send(ok).await;
                    if !ok {
                        return;
                    }
                    carry.drain(..end + 4);
                    break;
                }
            }
            _ => {
                failed(&shared);
                let _ = connected.send(false).await;
                return;
            }
        }
    }
    shared.held.fetch_add(1, Ordering::Relaxed);
    let watcher = &watchers[index];
    let at_key = memmem::Finder::new(b"\"at\":\"");
    let shard = &shared.latencies[index % shared.latencies.len()];
    let mut seen = 0u64;
    loop {
        let measuring = shared.measuring.load(Ordering::Relaxed);
        let mut counted = 0;
        complete_lines(&mut carry, |line| {
            if line == b"event: completion"
                || line == b"event: failure"
                || line == b"event: cancelled"
            {
                watcher.endings.fetch_add(1, Ordering::Relaxed);
            }
            // Every event has one `id:` line; a heartbeat has none.
            if line.starts_with(b"id:") {
                counted += 1;
            }
            if line.starts_with(b"data:") {
                seen += 1;
                if measuring
                    && seen.is_multiple_of(shared.sample_every)
                    && let Some(pos) = at_key.find(line)
                    && let Some(sent) = micros_of_day(&line[pos + 6..])
                {
                    let latency = (now_micros_of_day() - sent).max(0) as u64;
                    let _ = shard.lock().unwrap().record(latency);
                }
            }
        });
        watcher.events.fetch_add(counted, Ordering::Relaxed);
        if measuring {
            shared.window_events.fetch_add(counted, Ordering::Relaxed);
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                shared.held.fetch_sub(1, Ordering::Relaxed);
                failed(&shared);
                return;
            }
            Ok(n) => carry.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Starts `count` demo jobs, job `j` for owner `j × owners / count`, spread evenly over
/// one step; each job's (id, owner index).
async fn start_jobs(
    shared: &Arc<Shared>,
    cookies: &[String],
    count: usize,
    steps: u64,
    step_ms: u64,
) -> Vec<(String, usize)> {
    let client = reqwest::Client::new();
    let base = format!("http://{}", shared.site.addr);
    let mut slots = tokio::time::interval(
        Duration::from_micros(step_ms * 1000 / count.max(1) as u64).max(Duration::from_micros(1)),
    );
    let mut started = Vec::with_capacity(count);
    let mut tasks = tokio::task::JoinSet::new();
    for job in 0..count {
        let owner = job * cookies.len() / count.max(1);
        let Some(cookie) = cookies.get(owner) else {
            break;
        };
        slots.tick().await;
        while tasks.len() >= CONCURRENCY {
            started.extend(tasks.join_next().await.and_then(Result::ok).flatten());
        }
        let request = client
            .post(format!("{base}/api/jobs"))
            .header("cookie", cookie)
            .header("origin", &base)
            .json(
                &serde_json::json!({"kind": "demo", "params": {"steps": steps, "stepMs": step_ms}}),
            );
        let shared = shared.clone();
        tasks.spawn(async move {
            match request.send().await {
                Ok(r) if r.status() == 202 => {
                    let job: serde_json::Value = r.json().await.ok()?;
                    Some((job["id"].as_str()?.to_owned(), owner))
                }
                Ok(r) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    note(&format!(
                        "a job was refused: {} {:?}",
                        r.status(),
                        r.text().await
                    ));
                    None
                }
                Err(err) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    note(&format!("a job could not be started: {err}"));
                    None
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        started.extend(done.ok().flatten());
    }
    started
}

/// Reads every job's events from the log (its stream from the start, which ends with its
/// ending) and compares each owner's sum with what its live stream received: (events in
/// the log, events the live streams missed).
async fn check(
    shared: &Arc<Shared>,
    cookies: &[String],
    jobs: &[(String, usize)],
    watchers: &Arc<Vec<Watcher>>,
) -> (u64, u64) {
    let client = reqwest::Client::new();
    let base = format!("http://{}", shared.site.addr);
    let mut logged = vec![0u64; cookies.len()];
    let mut tasks = tokio::task::JoinSet::new();
    for (id, owner) in jobs {
        while tasks.len() >= CONCURRENCY {
            if let Some(Ok((owner, count))) = tasks.join_next().await {
                logged[owner] += count;
            }
        }
        let request = client
            .get(format!("{base}/api/jobs/{id}/events"))
            .header("cookie", &cookies[*owner])
            .timeout(Duration::from_secs(60));
        let owner = *owner;
        tasks.spawn(async move {
            let text = match request.send().await {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            let count = text.lines().filter(|line| line.starts_with("id:")).count() as u64;
            (owner, count)
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok((owner, count)) = done {
            logged[owner] += count;
        }
    }
    let missing = logged
        .iter()
        .zip(watchers.iter())
        .map(|(logged, watcher)| logged.saturating_sub(watcher.events.load(Ordering::Relaxed)))
        .sum();
    (logged.iter().sum(), missing)
}
