//! Jobs whose process stopped under them: the ones a dead process left `running` (found
//! at start-up, and with several nodes whenever a node's leases run out); at shutdown,
//! the ones that outlived the grace period. Each is ended honestly, or, if its kind is
//! safe to re-run, queued again (a few times at most).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use app::event::{Failure, JobEvent, StatusUpdate};
use app::job::{Job, JobId, JobStatus};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::registry::Kinds;
use super::{INTERRUPTED, NODE_LOST, RUN_LOST, Runner};
use crate::events::Recorder;
use crate::store::{Recorded, Store, StoreError};

/// Why a job's run stopped under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Its process stopped (or is stopping) and was started again.
    Restart,
    /// Its node stopped renewing its lease (died, was stopped, or lost the database).
    NodeLost,
    /// This process holds no run of it.
    RunLost,
}

impl Cause {
    fn reason(self) -> &'static str {
        match self {
            Cause::Restart => INTERRUPTED,
            Cause::NodeLost => NODE_LOST,
            Cause::RunLost => RUN_LOST,
        }
    }

    fn requeued(self) -> &'static str {
        match self {
            Cause::Restart => "Interrupted by a server restart",
            Cause::NodeLost => "Its worker node was lost",
            Cause::RunLost => "Its run was lost",
        }
    }
}

/// How many times a job may be started in all before an interruption ends it for good
/// (a job that brings the process down every time must not loop forever).
pub(super) const MAX_ATTEMPTS: u32 = 3;

/// What becomes of `job`, interrupted while running with `step` as its last step.
pub(super) fn interruption(
    job: &Job,
    step: Option<String>,
    cause: Cause,
    kinds: &Kinds,
) -> JobEvent {
    let at = Utc::now();
    let safe_to_rerun = kinds.safe_to_rerun(&job.spec.kind);
    if safe_to_rerun && job.attempt < MAX_ATTEMPTS {
        JobEvent::StatusUpdate(StatusUpdate {
            job_id: job.id,
            status: JobStatus::Queued,
            progress: 0,
            step: Some(format!(
                "{}; queued to run again (attempt {} of {MAX_ATTEMPTS})",
                cause.requeued(),
                job.attempt + 1
            )),
            done: None,
            began: Vec::new(),
            at,
        })
    } else {
        let error = if safe_to_rerun {
            format!("{} (after {} attempts)", cause.reason(), job.attempt)
        } else {
            cause.reason().to_owned()
        };
        JobEvent::Failure(Failure {
            job_id: job.id,
            error,
            step,
            at,
        })
    }
}

/// Ends or re-queues every running job whose process is gone (see
/// [`Store::orphaned_jobs`]): no job stays `running` forever. Returns how many there were.
pub async fn recover_interrupted(
    store: &dyn Store,
    recorder: &Recorder,
    kinds: &Kinds,
    cause: Cause,
) -> Result<usize, StoreError> {
    let stranded = store.orphaned_jobs().await?;
    let mut ended = 0;
    for job in &stranded {
        let event = interruption(job, job.step.clone(), cause, kinds);
        let outcome = event.kind();
        // Under the run's own fencing token: of two nodes rescuing the same job, one
        // does; a run that came back to life and ended it first keeps its outcome.
        if let Recorded::Stored { .. } = recorder.report(event, job.attempt).await? {
            tracing::warn!(
                job_id = %job.id,
                kind = %job.spec.kind,
                %outcome,
                ?cause,
                "a job's run was lost"
            );
            ended += 1;
        }
    }
    Ok(ended)
}

/// Looks for lost runs every `every` until `stop` (with several nodes: the runs of
/// nodes whose leases have run out).
pub async fn rescue_lost_runs(
    store: std::sync::Arc<dyn Store>,
    recorder: Recorder,
    kinds: Kinds,
    cause: Cause,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if let Err(err) = recover_interrupted(store.as_ref(), &recorder, &kinds, cause).await {
            tracing::warn!(error = %err, "could not look for lost jobs; trying again");
        }
    }
}

/// With one process: every `every` until `stop`, ends the jobs marked running that no run
/// of this process holds (a run that ended without its ending recorded), as a restart
/// would. A job is ended only once it was seen so twice in a row, so that one claimed a
/// moment ago, whose run is only starting, is never taken for one. (With several nodes,
/// such a job's lease is not renewed, and [`rescue_lost_runs`] ends it.)
pub async fn watch_unheld_runs(
    store: Arc<dyn Store>,
    runner: Arc<Runner>,
    recorder: Recorder,
    kinds: Kinds,
    every: Duration,
    stop: CancellationToken,
) {
    let mut suspects: HashSet<JobId> = HashSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let running = match store.running_jobs().await {
            Ok(running) => running,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for lost runs; trying again");
                continue;
            }
        };
        let held: HashSet<JobId> = runner.running().into_iter().collect();
        let unheld: Vec<Job> = running
            .into_iter()
            .filter(|job| !held.contains(&job.id))
            .collect();
        for job in unheld.iter().filter(|job| suspects.contains(&job.id)) {
            let event = interruption(job, job.step.clone(), Cause::RunLost, &kinds);
            match recorder.report(event, job.attempt).await {
                Ok(Recorded::Stored { .. }) => {
                    tracing::warn!(job_id = %job.id, kind = %job.spec.kind, "ended a job whose run was lost");
                }
                Ok(Recorded::Refused(_) | Recorded::Gone) => {}
                Err(err) => {
                    tracing::warn!(job_id = %job.id, error = %err, "could not end a job whose run was lost; trying again")
                }
            }
        }
        suspects = unheld.into_iter().map(|job| job.id).collect();
    }
}

#[cfg(test)]
mod tests {
    use app::job::JobSpec;

    use super::*;
    use crate::events::{Announce, Bus};
    use crate::jobs::{RunnerConfig, Services, builtin_kinds};
    use crate::orders::OrdersTable;
    use crate::owner::Owner;
    use crate::store::{Admission, ClaimLimits, SqliteStore};
    use crate::uploads::Uploads;

    /// A job marked running that no run of this process holds (claimed, and its run
    /// never started) is ended by the watchdog, as a restart would end it.
    #[tokio::test]
    async fn the_watchdog_ends_a_running_job_that_no_run_holds() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let services = Services {
            orders: OrdersTable::new(sqlite.database().clone()),
            uploads: Uploads::new(dir.path().join("uploads")),
        };
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let bus = Bus::new(16);
        let mut events = bus.subscribe();
        let recorder = Recorder::new(store.clone(), Announce::Bus(bus));
        let runner = Runner::new(
            recorder.clone(),
            builtin_kinds(),
            services,
            RunnerConfig::for_tests(dir.path()),
        );
        let owner = Owner::local();
        let spec = JobSpec::new("demo", serde_json::json!({ "steps": 1, "stepMs": 0 }));
        let job = recorder
            .create_job(&owner, &spec, "Demo", None, Admission::UNLIMITED)
            .await
            .unwrap();
        // Claimed, but the runner (not running) holds no run of it.
        assert_eq!(
            recorder.claim(1, &ClaimLimits::none()).await.unwrap().len(),
            1
        );
        let stop = CancellationToken::new();
        tokio::spawn(watch_unheld_runs(
            store.clone(),
            runner,
            recorder,
            builtin_kinds(),
            Duration::from_millis(20),
            stop.clone(),
        ));
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let event = events.recv().await.unwrap();
                if event.job_id == job.id && event.kind == app::event::EventKind::Failure {
                    return;
                }
            }
        })
        .await
        .expect("the watchdog ends the job");
        let ended = store.job(&owner, job.id).await.unwrap().unwrap();
        stop.cancel();
        assert_eq!(ended.status, JobStatus::Failed);
        assert_eq!(ended.error.as_deref(), Some(RUN_LOST));
    }
}
