//! Turns a job's progress reports into `status-update` events, and its log lines into
//! `log` events, a few per second at most.
//!
//! Job code may report thousands of times a second; the reports land in a watch channel
//! (latest value wins), and this task writes the current value at most once per
//! interval, after the lines logged meanwhile (one event for all of them). When the job
//! ends it writes what is left before the runner records the ending, so the final
//! progress and the last lines always precede the terminal event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::event::{JobEvent, JobLog, StatusUpdate};
use app::job::{JobId, JobStatus};
use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::context::Progress;
use crate::events::Recorder;
use crate::store::Recorded;

/// The longest log line kept, in bytes; longer ones are cut (at a character boundary).
const MAX_LINE: usize = 1000;

/// How many lines wait for the next write at most; more are counted, not kept.
const MAX_WAITING: usize = 200;

/// The lines a job logged that are not written yet. Shared by the job's context (which
/// adds) and its progress writer (which takes).
#[derive(Clone, Debug, Default)]
pub(crate) struct LogLines(Arc<Mutex<Waiting>>);

#[derive(Debug, Default)]
struct Waiting {
    lines: Vec<String>,
    skipped: u64,
}

impl LogLines {
    pub(super) fn push(&self, mut line: String) {
        if line.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push('…');
        }
        let mut waiting = self.0.lock().expect("log lines");
        if waiting.lines.len() < MAX_WAITING {
            waiting.lines.push(line);
        } else {
            waiting.skipped += 1;
        }
    }

    /// The waiting lines, and a line that counts the ones that did not fit.
    fn take(&self) -> Vec<String> {
        let mut waiting = self.0.lock().expect("log lines");
        let mut lines = std::mem::take(&mut waiting.lines);
        match std::mem::take(&mut waiting.skipped) {
            0 => {}
            1 => lines.push("(1 more line not kept: the job logs faster than shown)".into()),
            n => lines.push(format!(
                "({n} more lines not kept: the job logs faster than shown)"
            )),
        }
        lines
    }
}

pub(super) async fn report_progress(
    recorder: Recorder,
    job_id: JobId,
    log: LogLines,
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
        if !write_both(&recorder, job_id, &log, &current, &written).await {
            return;
        }
        written = current;
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
    write_both(&recorder, job_id, &log, &last, &written).await;
}

/// Records the lines logged since the last write and, if the job moved, where it is now:
/// handed to the writer together, so they land in one commit (lines first) and reach the
/// page together. False when the job no longer takes either (it ended).
async fn write_both(
    recorder: &Recorder,
    job_id: JobId,
    log: &LogLines,
    current: &Progress,
    written: &Progress,
) -> bool {
    let lines = write_log(recorder, job_id, log);
    let moved = async { current == written || write(recorder, job_id, current).await };
    let (lines, moved) = tokio::join!(lines, moved);
    lines && moved
}

/// Records one progress event; false when the job no longer takes progress (it ended).
async fn write(recorder: &Recorder, job_id: JobId, progress: &Progress) -> bool {
    record(
        recorder,
        JobEvent::StatusUpdate(StatusUpdate {
            job_id,
            status: JobStatus::Running,
            progress: progress.percent,
            step: progress.step.clone(),
            done: progress.done,
            at: Utc::now(),
        }),
    )
    .await
}

/// Records the lines logged since the last write, if any, as one `log` event. (Joined
/// before the progress write, it is handed to the writer first.)
async fn write_log(recorder: &Recorder, job_id: JobId, log: &LogLines) -> bool {
    let lines = log.take();
    if lines.is_empty() {
        return true;
    }
    record(
        recorder,
        JobEvent::Log(JobLog {
            job_id,
            lines,
            at: Utc::now(),
        }),
    )
    .await
}

async fn record(recorder: &Recorder, event: JobEvent) -> bool {
    let job_id = event.job_id();
    match recorder.record(event).await {
        Ok(Recorded::Stored(_)) => true,
        Ok(Recorded::Refused(_)) => false,
        Err(err) => {
            // Progress is advisory: a failed write is logged, the job goes on, and the
            // next report tries again.
            tracing::warn!(%job_id, error = %err, "could not record progress or log lines");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wait_for_the_next_write_up_to_a_limit_and_the_rest_are_counted() {
        let log = LogLines::default();
        assert!(log.take().is_empty());
        for n in 0..MAX_WAITING + 50 {
            log.push(format!("line {n}"));
        }
        let lines = log.take();
        assert_eq!(lines.len(), MAX_WAITING + 1);
        assert_eq!(lines[0], "line 0");
        assert_eq!(
            lines[MAX_WAITING],
            "(50 more lines not kept: the job logs faster than shown)"
        );
        // Taken: the next write starts empty.
        assert!(log.take().is_empty());
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let log = LogLines::default();
        log.push("é".repeat(MAX_LINE));
        let line = &log.take()[0];
        assert!(line.len() <= MAX_LINE + '…'.len_utf8(), "{}", line.len());
        assert!(line.ends_with('…'));
    }
}
