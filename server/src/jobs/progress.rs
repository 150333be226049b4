//! Turns a job's progress reports into `status-update` events, a few per second at most.
//!
//! Job code may report thousands of times a second; the reports land in a watch channel
//! (latest value wins), and this task writes the current value at most once per
//! interval. When the job ends it writes the last value, if unwritten, before the runner
//! records the ending, so the final progress always precedes the terminal event.

use std::time::Duration;

use app::event::{JobEvent, StatusUpdate};
use app::job::{JobId, JobStatus};
use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::context::Progress;
use crate::events::Recorder;
use crate::store::Recorded;

pub(super) async fn report_progress(
    recorder: Recorder,
    job_id: JobId,
    mut reports: watch::Receiver<Progress>,
    // What the job's record already says (written when the job was claimed).
    mut written: Progress,
    interval: Duration,
    done: CancellationToken,
) {
    loop {
        // The interval runs from the start of a write, not its end: a slow write (a busy
        // moment) does not slow the job's reports down further.
        let began = tokio::time::Instant::now();
        let current = reports.borrow_and_update().clone();
        if current != written {
            if !write(&recorder, job_id, &current).await {
                return;
            }
            written = current;
        }
        // Reports arriving meanwhile collapse into the next write.
        tokio::select! {
            biased;
            () = done.cancelled() => break,
            () = tokio::time::sleep_until(began + interval) => {}
        }
        tokio::select! {
            biased;
            () = done.cancelled() => break,
            changed = reports.changed() => if changed.is_err() { break },
        }
    }
    let last = reports.borrow().clone();
    if last != written {
        write(&recorder, job_id, &last).await;
    }
}

/// Records one progress event; false when the job no longer takes progress (it ended).
async fn write(recorder: &Recorder, job_id: JobId, progress: &Progress) -> bool {
    let event = JobEvent::StatusUpdate(StatusUpdate {
        job_id,
        status: JobStatus::Running,
        progress: progress.percent,
        step: progress.step.clone(),
        at: Utc::now(),
    });
    match recorder.record(event).await {
        Ok(Recorded::Stored(_)) => true,
        Ok(Recorded::Refused(_)) => false,
        Err(err) => {
            // Progress is advisory: a failed write is logged, the job goes on, and the
            // next report tries again.
            tracing::warn!(%job_id, error = %err, "could not record progress");
            true
        }
    }
}
