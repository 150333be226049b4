//! Turns a job's progress reports into `status-update` events, and its log lines into
//! `log` events, a few per second at most.
//!
//! Job code may report thousands of times a second; the reports land in a watch channel
//! (latest value wins), and this task writes the current value at most once per
//! interval, after the lines logged meanwhile (one event for all of them). The steps
//! begun meanwhile are not lost to the coalescing: each is noted with the time it began
//! and travels in the next update (`began`). When the job ends it writes what is left
//! before the runner records the ending, so the final progress and the last lines always
//! precede the terminal event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::event::{Amount, JobEvent, JobLog, StatusUpdate};
use app::job::{JobId, JobStatus, MAX_STEPS, StepMark};
use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::events::Recorder;
use crate::store::Recorded;

/// Where a job is: the latest progress it reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    pub(crate) percent: u8,
    pub(crate) step: Option<String>,
    pub(crate) done: Option<Amount>,
}

/// The longest log line kept, in bytes; longer ones are cut (at a character boundary).
const MAX_LINE: usize = 1000;

/// How many lines wait for the next write at most; more are counted, not kept.
const MAX_WAITING: usize = 200;

/// What a job reported that is not written yet besides where it is now: the lines it
/// logged and the steps it began. Shared by the job's context (which adds) and its
/// progress writer (which takes).
#[derive(Clone, Debug, Default)]
pub(crate) struct Unwritten(Arc<Mutex<Waiting>>);

#[derive(Debug, Default)]
struct Waiting {
    lines: Vec<String>,
    skipped: u64,
    began: Vec<StepMark>,
}

impl Unwritten {
    /// Notes that the job began `step` now.
    pub(super) fn began(&self, step: &str) {
        let mut waiting = self.0.lock().expect("unwritten reports");
        if waiting.began.len() >= MAX_STEPS {
            // A job racing through thousands of steps between two writes: the job's
            // record keeps no more than this anyway.
            waiting.began.remove(0);
        }
        waiting.began.push(StepMark {
            step: step.to_owned(),
            at: Utc::now(),
        });
    }

    /// The steps begun since the last take.
    fn take_began(&self) -> Vec<StepMark> {
        std::mem::take(&mut self.0.lock().expect("unwritten reports").began)
    }

    pub(super) fn log(&self, mut line: String) {
        if line.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push('…');
        }
        let mut waiting = self.0.lock().expect("unwritten reports");
        if waiting.lines.len() < MAX_WAITING {
            waiting.lines.push(line);
        } else {
            waiting.skipped += 1;
        }
    }

    /// The waiting lines, and a line that counts the ones that did not fit.
    fn take_lines(&self) -> Vec<String> {
        let mut waiting = self.0.lock().expect("unwritten reports");
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

/// A job's run: where its reports go, and the attempt (fencing token) they are written
/// under.
#[derive(Clone)]
pub(super) struct Run {
    pub recorder: Recorder,
    pub job_id: JobId,
    pub attempt: u32,
}

pub(super) async fn report_progress(
    run: Run,
    unwritten: Unwritten,
    mut reports: watch::Receiver<Progress>,
    // What the job's record already says (written when the job was claimed).
    mut written: Progress,
    interval: Duration,
    done: CancellationToken,
    // Cancelled when the job takes no more reports from this run (it ended, or the run
    // lost its claim): the run stops.
    refused: CancellationToken,
) {
    loop {
        // The interval runs from the start of a write, not its end: a slow write (a busy
        // moment) does not slow the job's reports down further.
        let began = tokio::time::Instant::now();
        let current = reports.borrow_and_update().clone();
        if !write_both(&run, &unwritten, &current, &written).await {
            refused.cancel();
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
    write_both(&run, &unwritten, &last, &written).await;
}

/// Records the lines logged since the last write and, if the job moved (or began steps),
/// where it is now: handed to the writer together, so they land in one commit (lines
/// first) and reach the page together. False when the job no longer takes either (it
/// ended).
async fn write_both(
    run: &Run,
    unwritten: &Unwritten,
    current: &Progress,
    written: &Progress,
) -> bool {
    let lines = write_log(run, unwritten);
    let began = unwritten.take_began();
    let moved =
        async { (current == written && began.is_empty()) || write(run, current, began).await };
    let (lines, moved) = tokio::join!(lines, moved);
    lines && moved
}

/// Records one progress event; false when the job no longer takes progress (it ended).
async fn write(run: &Run, progress: &Progress, began: Vec<StepMark>) -> bool {
    record(
        run,
        JobEvent::StatusUpdate(StatusUpdate {
            job_id: run.job_id,
            status: JobStatus::Running,
            progress: progress.percent,
            step: progress.step.clone(),
            done: progress.done,
            began,
            at: Utc::now(),
        }),
    )
    .await
}

/// Records the lines logged since the last write, if any, as one `log` event. (Joined
/// before the progress write, it is handed to the writer first.)
async fn write_log(run: &Run, unwritten: &Unwritten) -> bool {
    let lines = unwritten.take_lines();
    if lines.is_empty() {
        return true;
    }
    record(
        run,
        JobEvent::Log(JobLog {
            job_id: run.job_id,
            lines,
            at: Utc::now(),
        }),
    )
    .await
}

/// Records one event of the run; false when the job no longer takes them (it ended, or
/// this run lost its claim).
async fn record(run: &Run, event: JobEvent) -> bool {
    let job_id = run.job_id;
    match run.recorder.report(event, run.attempt).await {
        Ok(Recorded::Stored { .. }) => true,
        Ok(Recorded::Refused(_) | Recorded::Gone) => false,
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
        let log = Unwritten::default();
        assert!(log.take_lines().is_empty());
        for n in 0..MAX_WAITING + 50 {
            log.log(format!("line {n}"));
        }
        let lines = log.take_lines();
        assert_eq!(lines.len(), MAX_WAITING + 1);
        assert_eq!(lines[0], "line 0");
        assert_eq!(
            lines[MAX_WAITING],
            "(50 more lines not kept: the job logs faster than shown)"
        );
        // Taken: the next write starts empty.
        assert!(log.take_lines().is_empty());
    }

    #[test]
    fn steps_begun_wait_for_the_next_write_and_the_newest_are_kept() {
        let unwritten = Unwritten::default();
        for n in 0..MAX_STEPS + 5 {
            unwritten.began(&format!("step {n}"));
        }
        let began = unwritten.take_began();
        assert_eq!(began.len(), MAX_STEPS);
        assert_eq!(began[0].step, "step 5");
        assert!(began.windows(2).all(|pair| pair[0].at <= pair[1].at));
        assert!(unwritten.take_began().is_empty());
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let log = Unwritten::default();
        log.log("é".repeat(MAX_LINE));
        let line = &log.take_lines()[0];
        assert!(line.len() <= MAX_LINE + '…'.len_utf8(), "{}", line.len());
        assert!(line.ends_with('…'));
    }
}
