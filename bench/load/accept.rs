//! The accepting-work scenario: `POST /api/jobs` as fast as the server takes them, a fixed
//! number in flight; accepted jobs per second and the request latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::sync::Mutex;

use crate::http1::Connection;
use crate::{Args, process_stats, target};

/// The "accepting work" scenario: `jobs` requests, `concurrency` at a time, each on its
/// own keep-alive connection.
pub(crate) async fn post_jobs(args: &Args, jobs: usize) -> serde_json::Value {
    let site = target(&args.url);
    let body = r#"{"kind":"demo","params":{"steps":1,"stepMs":0}}"#;
    let auth = args
        .token
        .as_ref()
        .map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let request: Arc<[u8]> = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n{body}",
        site.path,
        site.host,
        body.len()
    )
    .into_bytes()
    .into();
    let latencies = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap(),
    ));
    let errors = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let before = args.server_pid.and_then(process_stats);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (request, addr) = (request.clone(), site.addr.clone());
            let (latencies, errors, next) = (latencies.clone(), errors.clone(), next.clone());
            tokio::spawn(async move {
                let mut connection = Connection::new(&addr);
                while next.fetch_add(1, Ordering::Relaxed) < jobs as u64 {
                    let sent = Instant::now();
                    match connection.exchange(&request).await {
                        Some(exchange) if exchange.status == 202 => {
                            let micros = sent.elapsed().as_micros() as u64;
                            let _ = latencies.lock().await.record(micros.max(1));
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = args.server_pid.and_then(process_stats);
    let latencies = latencies.lock().await;
    let ms = |micros: u64| micros as f64 / 1000.0;
    serde_json::json!({
        "label": args.label,
        "jobs": jobs,
        "accepted": latencies.len(),
        "jobsPerSec": latencies.len() as f64 / elapsed,
        "p50Ms": ms(latencies.value_at_quantile(0.5)),
        "p99Ms": ms(latencies.value_at_quantile(0.99)),
        "maxMs": ms(latencies.max()),
        "serverCpuPercent": match (before, after) {
            (Some((_, a)), Some((_, b))) => Some((b - a) as f64 / 100.0 / elapsed * 100.0),
            _ => None,
        },
        "errors": errors.load(Ordering::Relaxed),
    })
}
