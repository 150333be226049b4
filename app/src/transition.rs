//! The state machine: which event may come next in a job's life, and what each event
//! changes. [`Job::apply`] is the one place where events turn into state, used by the
//! server's store and by the browser's store alike.

use chrono::{DateTime, Utc};

use crate::event::{Amount, EventId, JobEvent};
use crate::job::{EARLIER_STEPS, Job, JobId, JobStatus, LOG_TAIL, MAX_STEPS, Processed, StepMark};

/// An event that the job's current status does not allow (e.g. progress after the end).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {job} cannot go from {from} to {to}")]
pub struct InvalidTransition {
    pub job: JobId,
    pub from: JobStatus,
    pub to: JobStatus,
}

impl Job {
    /// The status this event would move the job to, if the state machine allows it.
    /// (`removed` keeps the status: only an ended job can be removed.)
    pub fn check(&self, event: &JobEvent) -> Result<JobStatus, InvalidTransition> {
        let refuse = |to| InvalidTransition {
            job: self.id,
            from: self.status,
            to,
        };
        let next = match event {
            // A job is created once; nothing applies a creation to an existing job.
            JobEvent::Created(_) => return Err(refuse(JobStatus::Queued)),
            JobEvent::Removed(_) if self.status.is_terminal() => return Ok(self.status),
            JobEvent::Removed(_) => return Err(refuse(self.status)),
            // Log lines come from running code only; they do not change the status.
            JobEvent::Log(_) if self.status == JobStatus::Running => return Ok(self.status),
            JobEvent::Log(_) => return Err(refuse(JobStatus::Running)),
            JobEvent::StatusUpdate(update) => update.status,
            JobEvent::Completion(_) => JobStatus::Completed,
            JobEvent::Failure(_) => JobStatus::Failed,
            JobEvent::Cancelled(_) => JobStatus::Cancelled,
        };
        if self.status.can_become(next) {
            Ok(next)
        } else {
            Err(refuse(next))
        }
    }

    /// Applies one event to the job: the one place where events turn into state, used
    /// by the server's store and by the browser's store alike. Events that the state
    /// machine does not allow are rejected and change nothing; an event the job has
    /// already seen (by id) is ignored (`Ok(false)`).
    pub fn apply(&mut self, id: EventId, event: &JobEvent) -> Result<bool, InvalidTransition> {
        if id <= self.last_event_id {
            return Ok(false);
        }
        let next = self.check(event)?;
        match event {
            JobEvent::Created(_) | JobEvent::Removed(_) => {}
            JobEvent::StatusUpdate(update) => {
                if self.status == JobStatus::Queued && next == JobStatus::Running {
                    self.started_at = Some(update.at);
                    self.attempt += 1;
                    // A new attempt has a timeline and a count of its own.
                    self.steps.clear();
                    self.processed = None;
                    self.mark_step(update.step.as_deref().unwrap_or("Starting"), update.at);
                } else if next == JobStatus::Running {
                    for mark in &update.began {
                        self.mark_step(&mark.step, mark.at);
                    }
                    // Updates from before `began` existed (and a step that came back to
                    // where it was) still mark the step they are at.
                    if let Some(step) = &update.step {
                        self.mark_step(step, update.at);
                    }
                }
                self.progress = update.progress.min(100);
                self.step.clone_from(&update.step);
                if let Some(amount) = update.done {
                    self.count(amount, update.at);
                }
            }
            JobEvent::Log(log) => {
                self.log.extend(log.lines.iter().cloned());
                let extra = self.log.len().saturating_sub(LOG_TAIL);
                self.log.drain(..extra);
                self.log_skipped += extra as u64;
            }
            JobEvent::Completion(done) => {
                self.progress = 100;
                self.result_url.clone_from(&done.url);
                self.finished_at = Some(done.at);
            }
            JobEvent::Failure(failure) => {
                self.error = Some(failure.error.clone());
                self.step.clone_from(&failure.step);
                self.finished_at = Some(failure.at);
            }
            JobEvent::Cancelled(cancelled) => {
                self.finished_at = Some(cancelled.at);
                if cancelled.step.is_some() {
                    self.step.clone_from(&cancelled.step);
                }
            }
        }
        self.status = next;
        self.last_event_id = id;
        Ok(true)
    }

    /// Notes that the job is at `step` from `at`, if that is a new step.
    fn mark_step(&mut self, step: &str, at: DateTime<Utc>) {
        if self.steps.last().is_some_and(|last| last.step == step) {
            return;
        }
        if self.steps.len() >= MAX_STEPS {
            // The first mark begins the run: it stays, and absorbs the one after it.
            self.steps.remove(1);
            EARLIER_STEPS.clone_into(&mut self.steps[0].step);
        }
        self.steps.push(StepMark {
            step: step.to_owned(),
            at,
        });
    }

    fn count(&mut self, amount: Amount, at: DateTime<Utc>) {
        match &mut self.processed {
            Some(processed) if processed.first.unit == amount.unit => {
                processed.latest = amount;
                processed.latest_at = at;
            }
            // The first count, or a count of something else (a later phase counting
            // bytes after rows): the rate starts afresh.
            _ => {
                self.processed = Some(Processed {
                    first: amount,
                    first_at: at,
                    latest: amount,
                    latest_at: at,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
