//! The SSE load generator: opens N real subscribers over HTTP/1.1 on loopback, optionally
//! drives Candor jobs through its public API, and reports events delivered per second,
//! publish-to-receive latency (each event's `at` against the clock when it arrives),
//! subscribers held, the server's RSS and CPU (from /proc), and errors, as one JSON line.
//!
//!   cargo run --release -p server --example sse_load -- \
//!       --url http://127.0.0.1:3000/api/events --token "$TOKEN" --subscribers 1000 \
//!       --seconds 10 --server-pid "$PID" --drive-candor http://127.0.0.1:3000
//!
//! Bounded: at most `--subscribers` connections, for `--warmup` + `--seconds`, loopback
//! only (it refuses any other host).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod accept;
mod burst;
mod crowd;
mod http1;
mod restart;
mod watch;

use burst::Burst;
use clap::Parser;
use hdrhistogram::Histogram;
use memchr::memmem;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
pub(crate) struct Args {
    /// The event stream to subscribe to, on loopback.
    #[arg(long)]
    url: String,
    /// Sent as `Authorization: Bearer <token>`.
    #[arg(long)]
    token: Option<String>,
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// The server's process id, for its RSS and CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Candor's base URL: start demo jobs through its API that emit `--rate` events a
    /// second in total (progress and log lines) (without it the server publishes by itself).
    #[arg(long)]
    drive_candor: Option<String>,
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Record the latency of one event in this many (the rest are counted).
    #[arg(long, default_value_t = 4)]
    sample_every: u64,
    /// Asked (GET) once the subscribers are connected: starts a self-publishing server.
    #[arg(long)]
    start_url: Option<String>,
    /// Stop opening connections after this many seconds, and measure with those held.
    #[arg(long, default_value_t = 60)]
    connect_within: u64,
    /// Instead of subscribing: send this many `POST /api/jobs` to `--url` (a demo job of
    /// one step each) and report accepted jobs per second and the request latency.
    #[arg(long)]
    post_jobs: Option<usize>,
    /// How many of those requests are in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The burst scenario: once the subscribers are connected, start this many jobs at
    /// once (Candor: through `--drive-candor`; a peer: `--start-url` starts them), and
    /// measure the time until every subscriber has every job's `completion` event.
    #[arg(long)]
    burst_jobs: Option<u64>,
    /// Steps of each burst job, run without pauses.
    #[arg(long, default_value_t = 100)]
    burst_steps: u64,
    /// The polling baseline: `poll` or `sse`. `--url` is Candor's base URL; starts
    /// `--watch-jobs` demo jobs reporting every `--step-ms`, and `--subscribers` watchers
    /// follow them (watcher i follows job i mod jobs) by polling each `--poll-ms` or by
    /// the job's event stream.
    #[arg(long)]
    watch: Option<String>,
    #[arg(long, default_value_t = 1000)]
    watch_jobs: usize,
    #[arg(long, default_value_t = 10_000)]
    step_ms: u64,
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// The restart scenario: this many spec-following subscribers of `--url` (Candor's
    /// base URL) through a SIGKILL and restart of the server (see `restart.rs`).
    #[arg(long)]
    restart: Option<usize>,
    /// The crowd scenario: this many identities, each holding one stream of its own
    /// jobs; `--url` is Candor's base URL (see `crowd.rs`).
    #[arg(long)]
    crowd: Option<usize>,
    /// Running jobs in the crowd, spread evenly over its identities.
    #[arg(long, default_value_t = 1000)]
    crowd_jobs: usize,
    /// How often each crowd job reports (a progress event and a log line per step).
    #[arg(long, default_value_t = 200)]
    crowd_step_ms: u64,
    /// Whether the crowd's identities hold their streams (`false`: the same jobs with
    /// nobody watching, to tell the cost of writing events from that of delivering them).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    crowd_streams: bool,
    /// A name for the run in the output.
    #[arg(long, default_value = "run")]
    label: String,
}

/// Parsed `http://host:port/path`.
pub(crate) struct Target {
    addr: String,
    host: String,
    path: String,
}

pub(crate) fn target(url: &str) -> Target {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    assert!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "loopback only: {host}"
    );
    Target {
        addr: authority.replace("localhost", "127.0.0.1"),
        host: authority.to_owned(),
        path,
    }
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    bytes: AtomicU64,
    /// Bytes read while measuring (the wire's: framing, ids, names, data, comments).
    measured_bytes: AtomicU64,
    errors: AtomicU64,
    held: AtomicU64,
}

/// Microseconds since midnight UTC, now.
pub(crate) fn now_micros_of_day() -> i64 {
    let now = chrono::Utc::now();
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    (now - midnight).num_microseconds().unwrap_or(0)
}

/// Microseconds since midnight of an `"at":"YYYY-MM-DDTHH:MM:SS.ffffff…Z"` value.
pub(crate) fn micros_of_day(at: &[u8]) -> Option<i64> {
    if at.len() < 20 || at[10] != b'T' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(&at[range]).ok()?.parse().ok()
    };
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut micros = 0;
    let mut digits = 0;
    if at.get(19) == Some(&b'.') {
        for &b in at[20..].iter().take_while(|b| b.is_ascii_digit()) {
            if digits < 6 {
                micros = micros * 10 + i64::from(b - b'0');
                digits += 1;
            }
        }
    }
    while digits < 6 {
        micros *= 10;
        digits += 1;
    }
    Some(((h * 60 + m) * 60 + s) * 1_000_000 + micros)
}

/// What every subscriber shares.
struct Shared {
    target: Target,
    token: Option<String>,
    counters: Counters,
    /// Latency histograms, sharded to keep the locks uncontended.
    latencies: Vec<Mutex<Histogram<u64>>>,
    measuring: AtomicBool,
    sample_every: u64,
    burst: Option<Burst>,
}

async fn subscriber(index: usize, shared: Arc<Shared>, connected: tokio::sync::mpsc::Sender<bool>) {
    let Shared {
        target,
        token,
        counters,
        latencies,
        measuring,
        sample_every,
        burst,
    } = &*shared;
    let sample_every = *sample_every;
    let connecting =
        tokio::time::timeout(Duration::from_secs(20), TcpStream::connect(&target.addr));
    let Ok(Ok(mut socket)) = connecting.await else {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        let _ = connected.send(false).await;
        return;
    };
    let request = http1::get(
        &target.path,
        &target.host,
        "text/event-stream",
        token.as_deref(),
    );
    if socket.write_all(request.as_bytes()).await.is_err() {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        let _ = connected.send(false).await;
        return;
    }
    let mut buffer = vec![0u8; 16 * 1024];
    let mut carry: Vec<u8> = Vec::with_capacity(1024);
    // The response head (a server that does not answer within 20 s counts as an error).
    let head_by = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(head_by, socket.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                let _ = connected.send(false).await;
                return;
            }
            Ok(Ok(n)) => {
                carry.extend_from_slice(&buffer[..n]);
                if let Some(end) = memmem::find(&carry, b"\r\n\r\n") {
                    if !carry.starts_with(b"HTTP/1.1 200") {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        let _ = connected.send(false).await;
                        return;
                    }
                    carry.drain(..end + 4);
                    break;
                }
            }
        }
    }
    counters.held.fetch_add(1, Ordering::Relaxed);
    let _ = connected.send(true).await;
    let at_key = memmem::Finder::new(b"\"at\":\"");
    let shard = &latencies[index % latencies.len()];
    let mut seen: u64 = 0;
    let mut terminals: u64 = 0;
    loop {
        // Whole lines only; a chunked body's size lines are harmless (not `data:`).
        let mut counted = 0;
        complete_lines(&mut carry, |line| {
            if let Some(burst) = burst
                && Burst::is_terminal(line)
            {
                terminals += 1;
                burst.terminal_seen(terminals);
            }
            if line.starts_with(b"data:") {
                seen += 1;
                counted += 1;
                if seen.is_multiple_of(sample_every)
                    && measuring.load(Ordering::Relaxed)
                    && let Some(pos) = at_key.find(line)
                    && let Some(sent) = micros_of_day(&line[pos + 6..])
                {
                    let latency = (now_micros_of_day() - sent).max(0) as u64;
                    let _ = shard.lock().unwrap().record(latency);
                }
            }
        });
        if counted > 0 && measuring.load(Ordering::Relaxed) {
            counters.events.fetch_add(counted, Ordering::Relaxed);
        }
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                counters.held.fetch_sub(1, Ordering::Relaxed);
                if measuring.load(Ordering::Relaxed) {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Ok(n) => {
                counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                if measuring.load(Ordering::Relaxed) {
                    counters
                        .measured_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                carry.extend_from_slice(&buffer[..n]);
            }
        }
    }
}

/// The burst: starts the jobs, waits until every subscriber has every terminal event.
async fn run_burst(
    args: &Args,
    shared: &Shared,
    held: usize,
    connect_secs: f64,
    idle: Option<(u64, u64)>,
) -> serde_json::Value {
    let burst = shared.burst.as_ref().expect("a burst run");
    shared.measuring.store(true, Ordering::Relaxed);
    burst.start();
    let started = if let Some(base) = &args.drive_candor {
        burst::start_candor_jobs(base, args.token.as_deref(), burst.jobs, args.burst_steps).await
    } else if let Some(url) = &args.start_url {
        match reqwest::get(url).await {
            Ok(r) if r.status().is_success() => burst.jobs as usize,
            _ => 0,
        }
    } else {
        0
    };
    let done = burst.wait(held, Duration::from_secs(120)).await;
    let end = args.server_pid.and_then(process_stats);
    let at = |q: f64| {
        done.get(((done.len() as f64 * q) as usize).min(done.len().saturating_sub(1)))
            .copied()
    };
    serde_json::json!({
        "label": args.label,
        "subscribers": args.subscribers,
        "held": held,
        "connectSecs": connect_secs,
        "jobs": burst.jobs,
        "jobsStarted": started,
        "steps": args.burst_steps,
        "subscribersWithAll": done.len(),
        "allTerminalSecs": if done.len() == held { done.last().copied() } else { None },
        "p50TerminalSecs": at(0.5),
        "events": shared.counters.events.load(Ordering::Relaxed),
        "bytesPerEvent": bytes_per_event(&shared.counters),
        "serverCpuSecs": match (idle, end) {
            (Some((_, a)), Some((_, b))) => Some((b - a) as f64 / 100.0),
            _ => None,
        },
        "errors": shared.counters.errors.load(Ordering::Relaxed),
    })
}

/// The bytes on the wire per event delivered while measuring, so that rows can show they
/// carried alike events.
fn bytes_per_event(counters: &Counters) -> Option<f64> {
    let events = counters.events.load(Ordering::Relaxed);
    (events > 0).then(|| counters.measured_bytes.load(Ordering::Relaxed) as f64 / events as f64)
}

/// Calls `each` with every complete line in `carry` (without its `\n` or `\r\n`) and keeps
/// only the unfinished rest.
pub(crate) fn complete_lines(carry: &mut Vec<u8>, mut each: impl FnMut(&[u8])) {
    let mut start = 0;
    while let Some(newline) = memchr::memchr(b'\n', &carry[start..]) {
        let line = &carry[start..start + newline];
        each(line.strip_suffix(b"\r").unwrap_or(line));
        start += newline + 1;
    }
    carry.drain(..start);
}

/// The number in an SSE field's value (`id: 42`).
pub(crate) fn field_number(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// A line for the person running the benchmark (stdout is the report).
pub(crate) fn note(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// (RSS in KiB, CPU ticks) of a process.
pub(crate) fn process_stats(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((rss, ticks))
}

/// `POST {base}/api/jobs` for a demo job of `steps` steps `step_ms` apart.
pub(crate) fn demo_job(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    steps: u64,
    step_ms: u64,
) -> reqwest::RequestBuilder {
    let request = client
        .post(format!("{base}/api/jobs"))
        .json(&serde_json::json!({"kind": "demo", "params": {"steps": steps, "stepMs": step_ms}}));
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// Starts demo jobs on Candor that emit `rate` events a second in total for `seconds`:
/// each job's step lasts 500 ms and sends two events (a `log` line and a `status-update`),
/// so a job sends 4 a second; the jobs start evenly spread over those 500 ms, so the events
/// are evenly spread too (as a publisher's ticks would be).
async fn drive_candor(base: &str, token: Option<&str>, rate: u32, seconds: u64) -> usize {
    const STEP_MS: u64 = 500;
    let client = reqwest::Client::new();
    let jobs = (rate / 4).max(1);
    // Long enough to outlast the run even when starting them is slow (a saturated server
    // answers each POST late): the longest a demo job may be, 100 steps, 50 s.
    let steps = ((seconds + 12) * 1000 / STEP_MS).min(100);
    let mut started = 0;
    let mut slots = tokio::time::interval(Duration::from_micros(STEP_MS * 1000 / u64::from(jobs)));
    for _ in 0..jobs {
        slots.tick().await;
        match demo_job(&client, base, token, steps, STEP_MS).send().await {
            Ok(r) if r.status() == 202 => started += 1,
            Ok(r) => note(&format!(
                "a job was refused: {} {:?}",
                r.status(),
                r.text().await
            )),
            Err(e) => note(&format!("a job could not be started: {e}")),
        }
    }
    started
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    if let Some(how) = &args.watch {
        let report = watch::run(&args, how).await;
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{report}");
        std::process::exit(0);
    }
    if let Some(owners) = args.crowd {
        let report = crowd::run(&args, owners).await;
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{report}");
        std::process::exit(0);
    }
    if let Some(subscribers) = args.restart {
        let report = restart::run(&args, subscribers).await;
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{report}");
        std::process::exit(0);
    }
    if let Some(jobs) = args.post_jobs {
        let report = accept::post_jobs(&args, jobs).await;
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{report}");
        return;
    }
    let shared = Arc::new(Shared {
        target: target(&args.url),
        token: args.token.clone(),
        counters: Counters::default(),
        latencies: (0..64)
            .map(|_| Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()))
            .collect(),
        measuring: AtomicBool::new(false),
        sample_every: args.sample_every.max(1),
        burst: args.burst_jobs.map(Burst::new),
    });
    let (counters, latencies, measuring) = (&shared.counters, &shared.latencies, &shared.measuring);
    let before = args.server_pid.and_then(process_stats);

    // Connect everyone, a few hundred at a time.
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(1024);
    let opening = Instant::now();
    let mut in_flight = 0;
    let mut opened = 0;
    let mut ok = 0usize;
    let give_up = opening + Duration::from_secs(args.connect_within);
    while opened < args.subscribers || in_flight > 0 {
        while opened < args.subscribers && in_flight < 256 && Instant::now() < give_up {
            tokio::spawn(subscriber(opened, shared.clone(), connected_tx.clone()));
            opened += 1;
            in_flight += 1;
        }
        if in_flight == 0 {
            break;
        }
        if connected_rx.recv().await == Some(true) {
            ok += 1;
        }
        in_flight -= 1;
    }
    let connect_secs = opening.elapsed().as_secs_f64();
    // Let the server's memory settle, then read it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = args.server_pid.and_then(process_stats);

    if shared.burst.is_some() {
        let report = run_burst(&args, &shared, ok, connect_secs, idle).await;
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{report}");
        std::process::exit(0);
    }
    if let Some(url) = &args.start_url
        && let Err(err) = reqwest::get(url).await
    {
        note(&format!("could not start the publisher: {err}"));
    }
    if let Some(base) = &args.drive_candor {
        let started = drive_candor(
            base,
            args.token.as_deref(),
            args.rate,
            args.warmup + args.seconds,
        )
        .await;
        note(&format!("started {started} jobs"));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let start_stats = args.server_pid.and_then(process_stats);
    let own_start = process_stats(std::process::id());
    measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let end_stats = args.server_pid.and_then(process_stats);
    let own_end = process_stats(std::process::id());

    let mut merged = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    for shard in latencies.iter() {
        merged.add(&*shard.lock().unwrap()).unwrap();
    }
    let events = counters.events.load(Ordering::Relaxed);
    let ms = |micros: u64| micros as f64 / 1000.0;
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let cpu = match (start_stats, end_stats) {
        (Some((_, a)), Some((_, b))) => Some((b - a) as f64 / ticks_per_sec / elapsed * 100.0),
        _ => None,
    };
    let per_subscriber_kib = match (before, idle) {
        (Some((a, _)), Some((b, _))) if ok > 0 => Some((b as f64 - a as f64) / ok as f64),
        _ => None,
    };
    let report = serde_json::json!({
        "label": args.label,
        "subscribers": args.subscribers,
        "held": ok,
        "heldAtEnd": counters.held.load(Ordering::Relaxed),
        "connectSecs": connect_secs,
        "events": events,
        "eventsPerSec": events as f64 / elapsed,
        "bytesPerSec": counters.bytes.load(Ordering::Relaxed) as f64 / (elapsed + args.warmup as f64),
        "bytesPerEvent": bytes_per_event(counters),
        "latencySamples": merged.len(),
        "p50Ms": ms(merged.value_at_quantile(0.5)),
        "p99Ms": ms(merged.value_at_quantile(0.99)),
        "maxMs": ms(merged.max()),
        "serverRssBeforeKib": before.map(|s| s.0),
        "serverRssIdleKib": idle.map(|s| s.0),
        "serverRssEndKib": end_stats.map(|s| s.0),
        "rssPerSubscriberKib": per_subscriber_kib,
        "serverCpuPercent": cpu,
        "loadGeneratorCpuPercent": match (own_start, own_end) {
            (Some((_, a)), Some((_, b))) => Some((b - a) as f64 / ticks_per_sec / elapsed * 100.0),
            _ => None,
        },
        "errors": counters.errors.load(Ordering::Relaxed),
    });
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    let _ = writeln!(out, "{report}");
    std::process::exit(0);
}
