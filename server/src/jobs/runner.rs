//! The worker pool: claims queued jobs from the store, runs each in its own task, and
//! records exactly one ending for each.
//!
//! A job's code runs in a spawned task, so a panic in it is caught (as the task's
//! `JoinError`) and becomes a `failed` job; the worker pool never loses a worker. At most
//! `workers` jobs run at once (a semaphore); the queue itself is the store, so accepted
//! jobs survive a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::event::{Cancelled, Completion, EventKind, Failure, JobEvent};
use app::job::{Job, JobId, JobStatus};
use chrono::Utc;
use futures::future::BoxFuture;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::context::Services;
use super::progress::{Progress, Run, Unwritten, report_progress};
use super::recovery::{self, Cause};
use super::registry::{self, Kinds};
use super::{JobContext, JobError, Outcome};
use crate::artifacts::{Artifacts, ResultQuota};
use crate::events::{Published, Recorder};
use crate::owner::Owner;
use crate::store::{ClaimLimits, ClaimedJob, Recorded, Store};

/// How long an idle runner sleeps before looking at the queue again even without a
/// doorbell (a safety net: every accepted job also rings [`Runner::wake`]).
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The first pause before an ending that could not be written is tried again; each
/// pause doubles, up to the second.
const ENDING_RETRY_FIRST: Duration = Duration::from_millis(250);
const ENDING_RETRY_MAX: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    pub workers: usize,
    /// What its claims may not go past, on all nodes: one owner's running jobs, each
    /// kind's (its workers claim none of an owner or kind that has as many running).
    pub limits: ClaimLimits,
    pub progress_interval: Duration,
    /// Where result files are kept (`results.artifacts()`), and what each owner may keep.
    pub results: ResultQuota,
    pub shutdown_grace: Duration,
}

#[cfg(test)]
impl RunnerConfig {
    /// One worker, no cap, quick progress and a short grace; artifacts under `dir`.
    pub(crate) fn for_tests(dir: &std::path::Path) -> Self {
        Self {
            workers: 1,
            limits: ClaimLimits::none(),
            progress_interval: Duration::from_millis(10),
            results: ResultQuota::unlimited(Artifacts::new(dir.join("artifacts"))),
            shutdown_grace: Duration::from_secs(1),
        }
    }
}

pub struct Runner {
    pub(super) recorder: Recorder,
    pub(super) kinds: Kinds,
    pub(super) services: Services,
    config: RunnerConfig,
    /// Cancellation tokens of the running jobs. A std mutex: held only for map
    /// operations, never across an `await`.
    running: Mutex<HashMap<JobId, CancellationToken>>,
    wake: Notify,
}

/// How a run ended, before it is recorded.
enum Ending {
    Completed(Outcome),
    Failed(String),
    Cancelled,
    Interrupted,
}

impl Runner {
    pub fn new(
        recorder: Recorder,
        kinds: Kinds,
        services: Services,
        config: RunnerConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            recorder,
            kinds,
            services,
            config,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
        })
    }

    /// Rings the doorbell: a job was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tells a running job's code to stop (its `cancelled` event is already recorded).
    pub fn cancel(&self, id: JobId) {
        if let Some(token) = self.lock_running().get(&id) {
            token.cancel();
        }
    }

    /// The jobs this process is running now.
    pub fn running(&self) -> Vec<JobId> {
        self.lock_running().keys().copied().collect()
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, CancellationToken>> {
        // The map stays consistent even if a holder panicked: every operation on it is a
        // single insert, remove or lookup.
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs jobs until `drain` is cancelled; then lets running jobs finish within the
    /// grace period and ends the rest as interrupted.
    pub async fn run(self: Arc<Self>, drain: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.config.workers));
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                () = drain.cancelled() => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            // Every free worker at once: one claim (one commit) for a whole burst of jobs.
            let mut free = vec![permit];
            while let Ok(permit) = permits.clone().try_acquire_owned() {
                free.push(permit);
            }
            match self
                .recorder
                .claim(free.len() as u32, &self.config.limits)
                .await
            {
                Ok(claimed) if !claimed.is_empty() => {
                    for (claimed, permit) in claimed.into_iter().zip(free) {
                        tasks.spawn(self.clone().run_one(claimed, stop.clone(), permit));
                    }
                }
                Ok(_) => {
                    drop(free);
                    tokio::select! {
                        biased;
                        () = drain.cancelled() => break,
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
                Err(err) => {
                    drop(free);
                    tracing::error!(error = %err, "could not claim a job; retrying shortly");
                    tokio::select! {
                        () = drain.cancelled() => break,
                        () = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
            }
        }
        if !tasks.is_empty() {
            tracing::info!(
                running = tasks.len(),
                grace = ?self.config.shutdown_grace,
                "waiting for running jobs before shutting down"
            );
            let finished = tokio::time::timeout(self.config.shutdown_grace, async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            if finished.is_err() {
                stop.cancel();
                while tasks.join_next().await.is_some() {}
            }
        }
    }

    async fn run_one(
        self: Arc<Self>,
        claimed: ClaimedJob,
        stop: CancellationToken,
        _permit: OwnedSemaphorePermit,
    ) {
        let spec = claimed.job.spec.clone();
        let kinds = self.kinds.clone();
        self.execute(claimed, stop, |ctx| kinds.prepare(spec, ctx))
            .await;
    }

    /// Runs one claimed job's code (made by `prepare`) to its single recorded ending.
    async fn execute(
        &self,
        claimed: ClaimedJob,
        stop: CancellationToken,
        prepare: impl FnOnce(JobContext) -> registry::Prepared,
    ) {
        let (job, owner) = (claimed.job, claimed.event.owner);
        let id = job.id;
        let span = tracing::info_span!("job", %id, kind = %job.spec.kind);
        async move {
            tracing::info!("started");
            let cancel = CancellationToken::new();
            self.lock_running().insert(id, cancel.clone());
            // A cancel recorded between the claim and now found no run to stop: the
            // store says so, and the run stops before its code starts.
            if self.cancelled_meanwhile(&owner, id).await {
                cancel.cancel();
            }
            let (reporter, ctx) = self.start_reporting(&job, owner, &cancel);
            let prepared = prepare(ctx);
            let mut work = tokio::spawn(prepared.work.in_current_span());
            let mut finished = false;
            let mut ending = tokio::select! {
                biased;
                joined = &mut work => {
                    finished = true;
                    Ending::of(joined)
                }
                () = cancel.cancelled() => Ending::Cancelled,
                () = stop.cancelled() => Ending::Interrupted,
                () = expire(prepared.time_limit) => Ending::Failed(format!(
                    "timed out after {}", describe(prepared.time_limit.unwrap_or_default())
                )),
            };
            // Whatever ended it, the job's code stops now: async code at its next await,
            // blocking code at its next cancellation check.
            work.abort();
            cancel.cancel();
            if !finished {
                undo_if_finished_all_the_same(work).await;
            }
            let step = reporter.stop().await;
            let event = self.ending_event(&job, &ending, step);
            let undo = match &mut ending {
                Ending::Completed(outcome) => outcome.undo.take(),
                _ => None,
            };
            let completed = matches!(ending, Ending::Completed(_));
            self.record_ending(&job, completed, undo, event, &stop)
                .await;
            self.lock_running().remove(&id);
        }
        .instrument(span)
        .await;
    }

    /// Whether the job ended (was cancelled) since it was claimed.
    async fn cancelled_meanwhile(&self, owner: &Owner, id: JobId) -> bool {
        match self.recorder.store().job(owner, id).await {
            Ok(Some(job)) => job.status.is_terminal(),
            // Removed, or unreadable: its run goes on, and its writes will say.
            _ => false,
        }
    }

    /// Starts the task that writes the job's progress and log lines as its code reports
    /// them; returns it, with the context the code reports through.
    fn start_reporting(
        &self,
        job: &Job,
        owner: Owner,
        cancel: &CancellationToken,
    ) -> (Reporter, JobContext) {
        let recorded = Progress {
            percent: job.progress,
            step: job.step.clone(),
            done: job.processed.map(|processed| processed.latest),
        };
        let unwritten = Unwritten::default();
        let (reports, reports_rx) = watch::channel(recorded.clone());
        let done = CancellationToken::new();
        let task = tokio::spawn(
            report_progress(
                Run {
                    recorder: self.recorder.clone(),
                    job_id: job.id,
                    attempt: job.attempt,
                },
                unwritten.clone(),
                reports_rx.clone(),
                recorded,
                self.config.progress_interval,
                done.clone(),
                cancel.clone(),
            )
            .in_current_span(),
        );
        let ctx = JobContext::new(
            job.id,
            owner,
            reports,
            unwritten,
            cancel.clone(),
            self.config.results.clone(),
            self.services.clone(),
        );
        let reporter = Reporter {
            task,
            done,
            reports: reports_rx,
        };
        (reporter, ctx)
    }

    /// The event that records `ending`, at the `step` the job last reported.
    fn ending_event(&self, job: &Job, ending: &Ending, step: Option<String>) -> JobEvent {
        let (job_id, at) = (job.id, Utc::now());
        match ending {
            Ending::Completed(outcome) => JobEvent::Completion(Completion {
                job_id,
                url: outcome
                    .download
                    .as_ref()
                    .map(|file| Artifacts::url(job_id, file)),
                at,
            }),
            Ending::Failed(reason) => JobEvent::Failure(Failure {
                job_id,
                error: reason.clone(),
                step,
                at,
            }),
            Ending::Interrupted => recovery::interruption(job, step, Cause::Restart, &self.kinds),
            Ending::Cancelled => JobEvent::Cancelled(Cancelled { job_id, step, at }),
        }
    }

    /// Records the run's ending under its fencing token (if this run lost its claim, the
    /// outcome recorded for it stands), and removes its files unless they are the
    /// result: nothing of an unfinished job may be served.
    ///
    /// An ending that cannot be written (the database busy, its volume full) is tried
    /// again, with a growing pause, until it is stored: the job never stays `running`
    /// for want of one write. A run that did not complete gives up its files first (they
    /// are often what filled the volume); a completed run's file is kept, also when its
    /// ending was stored by a try whose answer was lost. Only a shutdown stops the tries
    /// (the next start ends the job, as after a crash).
    async fn record_ending(
        &self,
        job: &Job,
        completed: bool,
        undo: Option<BoxFuture<'static, ()>>,
        event: JobEvent,
        stop: &CancellationToken,
    ) {
        let kind = event.kind();
        let mut removed = false;
        let mut pause = ENDING_RETRY_FIRST;
        let keep_files = loop {
            match self.recorder.report(event.clone(), job.attempt).await {
                Ok(Recorded::Stored { .. }) => {
                    tracing::info!(ending = %kind, "ended");
                    break completed;
                }
                Ok(Recorded::Gone) => {
                    tracing::info!("the job was removed meanwhile");
                    break false;
                }
                Ok(Recorded::Refused(refused)) => {
                    // Someone else ended it first (a cancel request, or a node that found
                    // this run's lease expired): theirs stands. If the job did not end
                    // but was queued again, its next attempt owns the directory. If it
                    // is completed, only this run can have completed it.
                    tracing::info!("ended (already recorded)");
                    let stands = completed && refused.from == JobStatus::Completed;
                    if completed
                        && !stands
                        && let Some(undo) = undo
                    {
                        // It completed, but a cancel was recorded first: what it did
                        // outside its files is taken back.
                        tracing::info!(
                            "taking back what the job did: its completion came after a cancel"
                        );
                        undo.await;
                    }
                    break !refused.from.is_terminal() || stands;
                }
                Err(err) => {
                    if !completed && !removed {
                        let _ = self.config.results.artifacts().remove(job.id).await;
                        removed = true;
                    }
                    tracing::warn!(error = %err, retry_in = ?pause, "could not record the job's ending; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = stop.cancelled() => {
                            tracing::error!(error = %err, "shutting down before the job's ending could be recorded; the next start ends it");
                            break completed;
                        }
                    }
                    pause = (pause * 2).min(ENDING_RETRY_MAX);
                }
            }
        };
        if !keep_files && !removed {
            let _ = self.config.results.artifacts().remove(job.id).await;
        }
    }
}

/// The job's code finished all the same while its job was ended otherwise (cancelled
/// at the moment it completed): what it did is taken back. (Code that does not stop at
/// once is not waited for long.)
async fn undo_if_finished_all_the_same(work: tokio::task::JoinHandle<Result<Outcome, JobError>>) {
    if let Ok(Ok(Ok(outcome))) = tokio::time::timeout(Duration::from_secs(5), work).await
        && let Some(undo) = outcome.undo
    {
        tracing::info!("taking back what the job did: it completed as it was cancelled");
        undo.await;
    }
}

/// The task writing a run's progress, and what it last heard.
struct Reporter {
    task: tokio::task::JoinHandle<()>,
    done: CancellationToken,
    reports: watch::Receiver<Progress>,
}

impl Reporter {
    /// Writes what is left and stops; returns the step the job last reported.
    async fn stop(self) -> Option<String> {
        self.done.cancel();
        let _ = self.task.await;
        self.reports.borrow().step.clone()
    }
}

impl Ending {
    /// How the job's own task ended.
    fn of(joined: Result<Result<Outcome, JobError>, tokio::task::JoinError>) -> Self {
        match joined {
            Ok(Ok(outcome)) => Ending::Completed(outcome),
            Ok(Err(JobError::Cancelled)) => Ending::Cancelled,
            Ok(Err(err)) => Ending::Failed(err.to_string()),
            Err(err) if err.is_panic() => Ending::Failed(format!(
                "the job crashed: {}",
                panic_message(err.into_panic())
            )),
            Err(_) => Ending::Cancelled,
        }
    }
}

/// Follows this node's bus for what concerns its workers: a job queued on any node wakes
/// them, and a job of theirs that ended elsewhere (cancelled through another node, or
/// ended as lost by a node that found its lease expired) is stopped at once.
pub async fn follow_bus(
    runner: Arc<Runner>,
    mut events: broadcast::Receiver<Arc<Published>>,
    stop: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => return,
            received = events.recv() => received,
        };
        match received {
            Ok(event) => match event.kind {
                EventKind::Created => runner.wake(),
                EventKind::Cancelled | EventKind::Failure | EventKind::Removed => {
                    runner.cancel(event.job_id);
                }
                EventKind::StatusUpdate | EventKind::Log | EventKind::Completion => {}
            },
            // Missed events may have queued jobs; the runs learn of their own ends when
            // their next write is refused.
            Err(broadcast::error::RecvError::Lagged(_)) => runner.wake(),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Renews the leases of the jobs this node runs, every `every`, until `stop`: while it
/// does, no other node takes them for lost.
pub async fn keep_leases(
    runner: Arc<Runner>,
    store: Arc<dyn Store>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let running = runner.running();
        if let Err(err) = store.renew_leases(&running).await {
            tracing::warn!(error = %err, jobs = running.len(), "could not renew this node's leases");
        }
    }
}

async fn expire(limit: Option<Duration>) {
    match limit {
        Some(limit) => tokio::time::sleep(limit).await,
        None => std::future::pending().await,
    }
}

fn describe(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Announce, Bus};
    use crate::jobs::builtin_kinds;
    use crate::orders::OrdersTable;
    use crate::owner::Owner;
    use crate::store::{Admission, SqliteStore, Store};
    use crate::uploads::Uploads;
    use app::job::{JobSpec, JobStatus};

    async fn setup() -> (tempfile::TempDir, Arc<dyn Store>, Arc<Runner>, ClaimedJob) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let services = Services {
            orders: OrdersTable::new(sqlite.database().clone()),
            uploads: Uploads::new(dir.path().join("uploads")),
        };
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let recorder = Recorder::new(store.clone(), Announce::Bus(Bus::new(16)));
        let runner = Runner::new(
            recorder.clone(),
            builtin_kinds(),
            services,
            RunnerConfig::for_tests(dir.path()),
        );
        let spec = JobSpec::new("demo", serde_json::json!({ "steps": 1, "stepMs": 0 }));
        recorder
            .create_job(
                &Owner::local(),
                &spec,
                "Demo: 1 steps",
                None,
                Admission::UNLIMITED,
            )
            .await
            .unwrap();
        let claimed = recorder
            .claim(1, &ClaimLimits::none())
            .await
            .unwrap()
            .remove(0);
        (dir, store, runner, claimed)
    }

    /// Runs `work` as a claimed job's code; returns the job and its event names.
    async fn run_with(
        time_limit: Option<Duration>,
        work: impl std::future::Future<Output = Result<Outcome, JobError>> + Send + 'static,
    ) -> (app::job::Job, Vec<String>) {
        let (_dir, store, runner, claimed) = setup().await;
        let id = claimed.job.id;
        runner
            .execute(claimed, CancellationToken::new(), move |ctx| {
                ctx.progress(40, "Crunching");
                registry::Prepared {
                    time_limit,
                    work: Box::pin(work),
                }
            })
            .await;
        let job = store.job(&Owner::local(), id).await.unwrap().unwrap();
        let events = store
            .events_after(&Owner::local(), app::event::EventId(0), Some(id), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.kind, e.data))
            .collect();
        (job, events)
    }

    #[tokio::test]
    async fn a_panic_in_job_code_is_a_failed_job() {
        let (job, _) = run_with(None, async { panic!("index out of bounds") }).await;
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(
            job.error.as_deref(),
            Some("the job crashed: index out of bounds")
        );
        assert_eq!(job.step.as_deref(), Some("Crunching"));
    }

    #[tokio::test]
    async fn a_job_over_its_time_limit_fails_with_that_reason() {
        let (job, _) = run_with(Some(Duration::from_millis(200)), async {
            std::future::pending::<()>().await;
            Ok(Outcome::nothing())
        })
        .await;
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some("timed out after 0.2 s"));
    }

    #[tokio::test]
    async fn an_io_error_fails_the_job_with_its_reason() {
        let (job, _) = run_with(None, async {
            Err(JobError::io(
                "could not write the report",
                std::io::Error::from(std::io::ErrorKind::StorageFull),
            ))
        })
        .await;
        assert_eq!(job.status, JobStatus::Failed);
        let error = job.error.unwrap();
        assert!(error.starts_with("could not write the report: "), "{error}");
    }

    #[tokio::test]
    async fn the_last_progress_is_written_before_the_ending() {
        let (job, events) = run_with(None, async { Ok(Outcome::nothing()) }).await;
        assert_eq!(job.status, JobStatus::Completed);
        let kinds: Vec<_> = events
            .iter()
            .map(|e| e.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["created", "status-update", "status-update", "completion"]
        );
        assert!(events[2].contains("\"progress\":40"), "{}", events[2]);
        assert!(events[2].contains("Crunching"), "{}", events[2]);
    }

    /// An import's sequence (the kind's own step that makes it visible), with a cancel
    /// landing at `cancel_at`: before its rows are made visible, or after that and before
    /// its completion. Returns the job's state, whether the import was made visible at
    /// all, and whether the table holds any loaded order in the end.
    async fn import_cancelled(cancel_at: &'static str) -> (JobStatus, bool, bool) {
        let (_dir, store, runner, claimed) = setup().await;
        let (id, job) = (claimed.job.id, claimed.job.clone());
        let orders = runner.services.orders.clone();
        let table = orders.clone();
        let cancelling = runner.clone();
        let made_visible = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let visible = made_visible.clone();
        let order = crate::orders::Order {
            id: 1,
            date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            customer: "A".into(),
            region: "North".into(),
            amount_cents: 100,
        };
        let work = async move {
            table.begin_import(id).await.unwrap();
            table
                .insert_batch(id, &[(2, order)])
                .await
                .unwrap()
                .unwrap();
            if cancel_at == "before the load" {
                cancelling.cancel_job(&job).await.unwrap();
            }
            let outcome = super::super::kinds::import::make_visible(&table, id, 1).await;
            let Ok(outcome) = outcome else {
                table.abandon_import(id).await.unwrap();
                return outcome;
            };
            visible.store(true, std::sync::atomic::Ordering::SeqCst);
            if cancel_at == "after the load" {
                cancelling.cancel_job(&job).await.unwrap();
            }
            Ok(outcome)
        };
        runner
            .clone()
            .execute(claimed, CancellationToken::new(), move |_| {
                registry::Prepared {
                    time_limit: None,
                    work: Box::pin(work),
                }
            })
            .await;
        let job = store.job(&Owner::local(), id).await.unwrap().unwrap();
        let visible = made_visible.load(std::sync::atomic::Ordering::SeqCst);
        (job.status, visible, orders.has_loaded_data().await.unwrap())
    }

    /// A cancel that arrives while an import is being marked loaded leaves a cancelled
    /// job and no rows, whether it lands before the load or between the load and the
    /// completion.
    #[tokio::test]
    async fn a_cancel_around_an_imports_load_leaves_no_rows() {
        // Before: the load is refused, nothing is ever visible.
        assert_eq!(
            import_cancelled("before the load").await,
            (JobStatus::Cancelled, false, false)
        );
        // After: it was visible, and is taken back.
        assert_eq!(
            import_cancelled("after the load").await,
            (JobStatus::Cancelled, true, false)
        );
    }

    /// A cancel recorded right after the claim, before the run began (no run to stop
    /// yet), still stops the job's code at once.
    #[tokio::test]
    async fn a_cancel_right_after_the_claim_stops_the_run_at_once() {
        let (_dir, store, runner, claimed) = setup().await;
        let id = claimed.job.id;
        runner.cancel_job(&claimed.job).await.unwrap();
        let run = runner.execute(claimed, CancellationToken::new(), move |_| {
            registry::Prepared {
                time_limit: None,
                work: Box::pin(async {
                    std::future::pending::<()>().await;
                    Ok(Outcome::nothing())
                }),
            }
        });
        tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("the run stops, though its code would never end");
        let job = store.job(&Owner::local(), id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Cancelled);
    }
}
