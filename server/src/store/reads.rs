//! The store's reads of jobs and of the log, each written once for both databases.
//!
//! Reads go through the pool, never through a writer: they see what has been committed.

use app::event::EventId;
use app::job::{Job, JobId, JobList, JobStatus, StatusCounts};
use chrono::{DateTime, Utc};

use super::database::with_pool;
use super::rows::{EventRow, JobRow, into_jobs, select_jobs};
use super::{Store, StoreError, StoredEvent};
use crate::owner::Owner;

/// The columns of an [`EventRow`], from `events`.
macro_rules! select_events {
    ($($clauses:literal)+) => {
        concat!("SELECT id, job_id, owner, kind, data FROM events ", $($clauses),+)
    };
}

impl dyn Store {
    /// One of the owner's jobs (`None` for another owner's job, exactly as for no job,
    /// and for a removed job).
    pub async fn job(&self, owner: &Owner, id: JobId) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = with_pool!(self.database().db(), pool => {
            sqlx::query_as(select_jobs!("WHERE id = $1 AND owner = $2 AND removed_at IS NULL"))
                .bind(id.to_string())
                .bind(owner.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(JobRow::into_job).transpose()?.map(|(job, _)| job))
    }

    /// Whether the owner had this job and its retention removed it.
    pub async fn was_removed(&self, owner: &Owner, id: JobId) -> Result<bool, StoreError> {
        let removed: i64 = with_pool!(self.database().db(), pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE id = $1 AND owner = $2 AND removed_at IS NOT NULL",
            )
            .bind(id.to_string())
            .bind(owner.as_str())
            .fetch_one(pool)
            .await?
        });
        Ok(removed > 0)
    }

    /// Ended jobs that finished before `before` and are not removed yet, oldest first
    /// (by when they finished, then by id), after the job `after` if given: a sweep that
    /// must leave some behind still moves on.
    pub async fn expired_jobs(
        &self,
        before: DateTime<Utc>,
        after: Option<&Job>,
        limit: u32,
    ) -> Result<Vec<(Job, Owner)>, StoreError> {
        let (after_finished, after_id) = after
            .and_then(|job| Some((job.finished_at?, job.id.to_string())))
            .unzip();
        let rows: Vec<JobRow> = with_pool!(self.database().db(), pool => {
            sqlx::query_as(select_jobs!(
                "WHERE removed_at IS NULL AND finished_at IS NOT NULL AND finished_at < $1 "
                "AND ($2 IS NULL OR finished_at > $2 OR (finished_at = $2 AND id > $3)) "
                "ORDER BY finished_at, id LIMIT $4"
            ))
            .bind(before)
            .bind(after_finished)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(JobRow::into_job).collect()
    }

    /// The owner's newest jobs (older than the job `before`, if given), how many they
    /// have in each state, and the id of the newest event, all from one snapshot.
    pub async fn jobs(
        &self,
        owner: &Owner,
        limit: u32,
        before: Option<JobId>,
    ) -> Result<JobList, StoreError> {
        let dialect = self.database().dialect();
        let (last, rows, by_status) = with_pool!(self.database().db(), pool => {
            let mut tx = pool.begin_with(dialect.begin_snapshot).await?;
            let last: i64 = sqlx::query_scalar(dialect.last_event_id)
                .fetch_one(&mut *tx)
                .await?;
            // One more than asked: whether older jobs follow.
            let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
                "WHERE owner = $1 AND removed_at IS NULL AND (CAST($2 AS TEXT) IS NULL "
                "OR seq < (SELECT seq FROM jobs WHERE id = $2 AND owner = $1)) "
                "ORDER BY seq DESC LIMIT $3"
            ))
            .bind(owner.as_str())
            .bind(before.map(|id| id.to_string()))
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *tx)
            .await?;
            let by_status: Vec<(String, i64)> = sqlx::query_as(
                "SELECT status, COUNT(*) FROM jobs WHERE owner = $1 AND removed_at IS NULL \
                 GROUP BY status",
            )
            .bind(owner.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (last, rows, by_status)
        });
        let mut counts = StatusCounts::default();
        for (status, count) in by_status {
            let status: JobStatus = status
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("a job's status: {e}")))?;
            counts.set(status, u64::try_from(count).unwrap_or(0));
        }
        let more = rows.len() > limit as usize;
        let jobs = into_jobs(rows.into_iter().take(limit as usize).collect())?;
        Ok(JobList {
            jobs,
            last_event_id: EventId(last),
            counts,
            more,
        })
    }

    /// The owner's events after `after`, oldest first, optionally of one job only.
    pub async fn events_after(
        &self,
        owner: &Owner,
        after: EventId,
        job: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // Two statements, so that each is planned for its own index.
        let rows: Vec<EventRow> = with_pool!(self.database().db(), pool => match job {
            Some(job) => {
                sqlx::query_as(select_events!(
                    "WHERE job_id = $1 AND owner = $2 AND id > $3 ORDER BY id LIMIT $4"
                ))
                .bind(job.to_string())
                .bind(owner.as_str())
                .bind(after.0)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
            None => {
                sqlx::query_as(select_events!("WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3"))
                    .bind(owner.as_str())
                    .bind(after.0)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
        });
        rows.into_iter().map(EventRow::into_event).collect()
    }

    /// Every owner's events after `after`, oldest first.
    pub async fn log_after(
        &self,
        after: EventId,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self.database().db(), pool => {
            sqlx::query_as(select_events!("WHERE id > $1 ORDER BY id LIMIT $2"))
                .bind(after.0)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(EventRow::into_event).collect()
    }

    /// The id of the newest event in the log (0 when it is empty).
    pub async fn last_event_id(&self) -> Result<EventId, StoreError> {
        let statement = self.database().dialect().last_event_id;
        let last: i64 = with_pool!(self.database().db(), pool => {
            sqlx::query_scalar(statement).fetch_one(pool).await?
        });
        Ok(EventId(last))
    }

    /// Whether the database answers, with every migration of this build applied.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        let applied: Option<i64> = with_pool!(self.database().db(), pool => {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await?
        });
        let applied = applied.unwrap_or(0);
        let latest = self
            .database()
            .dialect()
            .migrator
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if applied < latest {
            return Err(StoreError::NotMigrated {
                missing: latest,
                applied,
            });
        }
        Ok(())
    }

    /// How many jobs wait in the queue.
    pub async fn queued_jobs(&self) -> Result<u64, StoreError> {
        let statement = self.database().dialect().queued_jobs;
        let queued: i64 = with_pool!(self.database().db(), pool => {
            sqlx::query_scalar(statement).fetch_one(pool).await?
        });
        Ok(u64::try_from(queued).unwrap_or(0))
    }

    /// The owner's jobs that may hold published result files: running or completed, not
    /// removed.
    pub async fn result_holders(&self, owner: &Owner) -> Result<Vec<JobId>, StoreError> {
        let ids: Vec<String> = with_pool!(self.database().db(), pool => {
            sqlx::query_scalar(
                "SELECT id FROM jobs WHERE owner = $1 AND status IN ('running', 'completed') \
                 AND removed_at IS NULL",
            )
            .bind(owner.as_str())
            .fetch_all(pool)
            .await?
        });
        ids.iter().map(|id| super::rows::job_id(id)).collect()
    }

    /// The first [`QUEUE_SHOWN`](super::QUEUE_SHOWN) queued jobs and their owners, in the
    /// order the fair policy would start them (each kind's and owner's caps aside).
    pub async fn queue_order(&self) -> Result<Vec<(JobId, Owner)>, StoreError> {
        let statement = self.database().dialect().queue_order;
        let rows: Vec<(String, String)> = with_pool!(self.database().db(), pool => {
            sqlx::query_as(statement).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(id, owner)| Ok((super::rows::job_id(&id)?, Owner::new(owner))))
            .collect()
    }

    /// Jobs marked `running`, oldest first.
    pub async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = with_pool!(self.database().db(), pool => {
            sqlx::query_as(select_jobs!("WHERE status = 'running' ORDER BY seq"))
                .fetch_all(pool)
                .await?
        });
        into_jobs(rows)
    }
}
