//! The burst scenario: many jobs started at once, each running its steps as fast as it
//! can; the measure is how long until every subscriber has every job's terminal event.

use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// What the subscribers share during a burst.
pub(crate) struct Burst {
    /// Terminal events each subscriber waits for (one per job).
    pub(crate) jobs: u64,
    started: OnceLock<Instant>,
    /// Seconds from the start until each subscriber had all its terminal events.
    finished: Mutex<Vec<f64>>,
    progress: Notify,
}

impl Burst {
    pub(crate) fn new(jobs: u64) -> Self {
        Self {
            jobs,
            started: OnceLock::new(),
            finished: Mutex::new(Vec::new()),
            progress: Notify::new(),
        }
    }

    /// Whether this line (CR already stripped) names a terminal event.
    pub(crate) fn is_terminal(line: &[u8]) -> bool {
        line.strip_prefix(b"event:")
            .is_some_and(|name| name.trim_ascii() == b"completion")
    }

    /// A subscriber saw its `count`th terminal event.
    pub(crate) fn terminal_seen(&self, count: u64) {
        if count == self.jobs
            && let Some(started) = self.started.get()
        {
            self.finished
                .lock()
                .unwrap()
                .push(started.elapsed().as_secs_f64());
            self.progress.notify_one();
        }
    }

    pub(crate) fn start(&self) {
        let _ = self.started.set(Instant::now());
    }

    /// Waits until `subscribers` have every terminal event, or `limit` passes; returns
    /// the seconds each took, sorted.
    pub(crate) async fn wait(&self, subscribers: usize, limit: Duration) -> Vec<f64> {
        let _ = tokio::time::timeout(limit, async {
            while self.finished.lock().unwrap().len() < subscribers {
                self.progress.notified().await;
            }
        })
        .await;
        let mut done = self.finished.lock().unwrap().clone();
        done.sort_by(f64::total_cmp);
        done
    }
}

/// Starts `jobs` demo jobs of `steps` steps with no pause between steps, all at once,
/// through Candor's API; the number accepted.
pub(crate) async fn start_candor_jobs(
    base: &str,
    token: Option<&str>,
    jobs: u64,
    steps: u64,
) -> usize {
    let client = reqwest::Client::new();
    let requests = (0..jobs).map(|_| {
        let request = crate::demo_job(&client, base, token, steps, 0);
        async move { matches!(request.send().await, Ok(r) if r.status() == 202) }
    });
    futures::future::join_all(requests)
        .await
        .into_iter()
        .filter(|&accepted| accepted)
        .count()
}
