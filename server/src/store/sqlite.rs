//! The embedded store: one SQLite file in WAL mode.
//!
//! Reads go through sqlx's pool. The jobs and their log are written through one
//! connection of the store's own ([`group`]), called directly by the writing thread, in
//! `BEGIN IMMEDIATE` transactions, so a transaction that reads a job and then changes it
//! can never be overtaken by another writer. `synchronous = FULL`: an accepted job
//! survives a crash of the process and of the machine.

mod group;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::event::EventId;
use app::job::{Job, JobId, JobList, JobStatus, StatusCounts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::TransactionBehavior;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

use super::STARTING_STEP;
use super::rows::{EventRow, JobRow, SELECT_TOKENS, TokenRow, select_jobs};
use super::{Store, StoreError, StoredEvent, TokenInfo, Write, Written};
use crate::owner::Owner;
use group::{Group, LiveJobs};

/// How long a write waits for another connection's write to end before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// This build's migrations, applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The connection that writes the jobs and their log.
    writer: Arc<Mutex<rusqlite::Connection>>,
    turns: WriteTurns,
    live: LiveJobs,
    /// This process's name in the jobs it claims: a running job claimed under another
    /// name was left by a process that stopped.
    node: Arc<str>,
}

/// Writers take turns, in arrival order. SQLite has one writer at a time, and its busy
/// handler is not fair: a writer that commits and begins again at once (an import, batch
/// after batch) can keep every other writer (each job's events) waiting for as long as
/// it runs. With turns, a write waits for at most the transactions queued before it.
#[derive(Clone, Debug, Default)]
pub struct WriteTurns(std::sync::Arc<tokio::sync::Mutex<()>>);

impl WriteTurns {
    /// Waits for this writer's turn; the turn lasts until the guard is dropped.
    pub async fn take(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.lock().await
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let writer = rusqlite::Connection::open(path)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", true)?;
        writer.set_prepared_statement_cache_capacity(32);
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(writer)),
            turns: WriteTurns::default(),
            live: LiveJobs::default(),
            node: uuid::Uuid::new_v4().to_string().into(),
        })
    }

    /// The connection pool, for the data that jobs work on (the orders table).
    pub fn pool(&self) -> SqlitePool {
        self.pool.clone()
    }

    /// The writers' turns, which every writer to this database must take.
    pub fn write_turns(&self) -> WriteTurns {
        self.turns.clone()
    }

    async fn job_row(
        conn: &mut SqliteConnection,
        id: JobId,
    ) -> Result<Option<(Job, Owner)>, StoreError> {
        let row: Option<JobRow> =
            sqlx::query_as(select_jobs!("WHERE id = ? AND removed_at IS NULL"))
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await?;
        row.map(JobRow::into_job).transpose()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn write_all(
        &self,
        writes: &[Write],
        now: DateTime<Utc>,
    ) -> Result<Vec<Written>, StoreError> {
        let _turn = self.turns.take().await;
        let mut conn = self.writer.lock().expect("the write connection");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut group = Group::new(&tx, &self.node, &self.live);
        let written = writes
            .iter()
            .map(|write| group.write(write, now))
            .collect::<Result<Vec<_>, _>>()?;
        let changes = group.changes();
        tx.commit()?;
        changes.committed(&self.live);
        Ok(written)
    }

    async fn job(&self, owner: &Owner, id: JobId) -> Result<Option<Job>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(Self::job_row(&mut conn, id)
            .await?
            .filter(|(_, job_owner)| job_owner == owner)
            .map(|(job, _)| job))
    }

    async fn was_removed(&self, owner: &Owner, id: JobId) -> Result<bool, StoreError> {
        let removed: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM jobs WHERE id = ? AND owner = ? AND removed_at IS NOT NULL",
        )
        .bind(id.to_string())
        .bind(owner.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(removed.is_some())
    }

    async fn expired_jobs(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE removed_at IS NULL AND finished_at IS NOT NULL AND finished_at < ? "
            "ORDER BY finished_at LIMIT ?"
        ))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| row.into_job().map(|(job, _)| job))
            .collect()
    }

    async fn jobs(
        &self,
        owner: &Owner,
        limit: u32,
        before: Option<JobId>,
    ) -> Result<JobList, StoreError> {
        // One read transaction: the job rows, the counts and the event id come from the
        // same snapshot.
        let mut tx = self.pool.begin().await?;
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        // One more than asked: whether older jobs follow.
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE owner = ?1 AND removed_at IS NULL "
            "AND (?2 IS NULL OR seq < (SELECT seq FROM jobs WHERE id = ?2 AND owner = ?1)) "
            "ORDER BY seq DESC LIMIT ?3"
        ))
        .bind(owner.as_str())
        .bind(before.map(|id| id.to_string()))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let by_status: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM jobs WHERE owner = ? AND removed_at IS NULL \
             GROUP BY status",
        )
        .bind(owner.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut counts = StatusCounts::default();
        for (status, count) in by_status {
            let status: JobStatus = status
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("a job's status: {e}")))?;
            counts.set(status, u64::try_from(count).unwrap_or(0));
        }
        let more = rows.len() > limit as usize;
        let jobs = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| row.into_job().map(|(job, _)| job))
            .collect::<Result<_, _>>()?;
        Ok(JobList {
            jobs,
            last_event_id: EventId(last),
            counts,
            more,
        })
    }

    async fn events_after(
        &self,
        owner: &Owner,
        after: EventId,
        job: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = match job {
            Some(job) => {
                sqlx::query_as(
                    "SELECT id, job_id, owner, kind, data FROM events \
                     WHERE job_id = ? AND owner = ? AND id > ? ORDER BY id LIMIT ?",
                )
                .bind(job.to_string())
                .bind(owner.as_str())
                .bind(after.0)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT id, job_id, owner, kind, data FROM events \
                     WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
                )
                .bind(owner.as_str())
                .bind(after.0)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn log_after(&self, after: EventId, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, job_id, owner, kind, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn last_event_id(&self) -> Result<EventId, StoreError> {
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(EventId(last))
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        let applied: Option<i64> = sqlx::query_scalar(super::APPLIED_MIGRATION)
            .fetch_one(&self.pool)
            .await?;
        super::check_migrated(applied, &MIGRATOR)
    }

    async fn queued_jobs(&self) -> Result<u64, StoreError> {
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(queued).unwrap_or(0))
    }

    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> =
            sqlx::query_as(select_jobs!("WHERE status = 'running' ORDER BY seq"))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|row| row.into_job().map(|(job, _)| job))
            .collect()
    }

    async fn orphaned_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE status = 'running' AND (claimed_by IS NULL OR claimed_by <> ?) ORDER BY seq"
        ))
        .bind(&*self.node)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| row.into_job().map(|(job, _)| job))
            .collect()
    }

    async fn renew_leases(&self, _jobs: &[JobId]) -> Result<(), StoreError> {
        // One process: its claims last as long as it does.
        Ok(())
    }

    async fn add_token(&self, token: &TokenInfo, hash: &[u8]) -> Result<(), StoreError> {
        let _turn = self.turns.take().await;
        sqlx::query(
            "INSERT INTO api_tokens (id, hash, owner, label, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(hash)
        .bind(token.owner.as_str())
        .bind(&token.label)
        .bind(token.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn token_owner(&self, hash: &[u8]) -> Result<Option<Owner>, StoreError> {
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT owner FROM api_tokens WHERE hash = ? AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner.map(Owner::new))
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(SELECT_TOKENS).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(TokenInfo::from).collect())
    }

    async fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let _turn = self.turns.take().await;
        let revoked =
            sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(revoked.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::Admission;
    use crate::store::contract::{Opened, new_job, store_contract};

    async fn open() -> Opened {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("candor.db"))
            .await
            .unwrap();
        Opened {
            store: Arc::new(store),
            _keep: Box::new(dir),
        }
    }

    store_contract!(open);

    /// Ready with every migration of this build applied; not with one missing (a
    /// database an older build left, or one another process is still migrating).
    #[tokio::test]
    async fn ready_only_with_every_migration_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("candor.db"))
            .await
            .unwrap();
        store.check_ready().await.unwrap();
        sqlx::query(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .execute(&store.pool())
        .await
        .unwrap();
        let err = store.check_ready().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NotMigrated {
                    missing: 6,
                    applied: 5
                }
            ),
            "{err}"
        );
    }

    /// The log's ids carry on after the database is opened again: never reused.
    #[tokio::test]
    async fn event_ids_carry_on_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("candor.db");
        let owner = Owner::new("t-reopen");
        let store = SqliteStore::open(&path).await.unwrap();
        let (_, first) = store
            .create_job(new_job(&owner, Admission::UNLIMITED), Utc::now())
            .await
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        let (second, created) = store
            .create_job(new_job(&owner, Admission::UNLIMITED), Utc::now())
            .await
            .unwrap();
        assert!(created.id > first.id);
        assert_eq!(second.last_event_id, created.id);
    }
}
