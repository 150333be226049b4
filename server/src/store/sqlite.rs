//! The embedded store: one SQLite file in WAL mode.
//!
//! Reads go through sqlx's pool. The jobs and their log are written through one
//! connection of the store's own ([`group`]), called directly by the writing thread, in
//! `BEGIN IMMEDIATE` transactions, so a transaction that reads a job and then changes it
//! can never be overtaken by another writer. `synchronous = FULL`: an accepted job
//! survives a crash of the process and of the machine.

mod commit;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::job::{Job, JobId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::TransactionBehavior;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::database::{Database, Dialect};
use super::rows::{JobRow, fair_queue, into_jobs, select_jobs};
use super::{Store, StoreError, Write, Written};
use commit::LiveJobs;

/// How long a write waits for another connection's write to end before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The write connection's page cache, in KiB (a negative `cache_size` counts KiB).
const WRITER_CACHE_KIB: i64 = -65_536;

/// This build's migrations, applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

static DIALECT: Dialect = Dialect {
    migrator: &MIGRATOR,
    last_event_id: "SELECT COALESCE(MAX(id), 0) FROM events",
    queued_jobs: "SELECT COUNT(*) FROM jobs WHERE status = 'queued'",
    queue_order: concat!(
        "SELECT queued_id, queued_owner FROM (",
        fair_queue!(
            "JOIN jobs AS j ON j.rowid IN (SELECT rowid FROM jobs WHERE status = 'queued' AND \
             owner = o.owner ORDER BY seq LIMIT 10000)",
            "1 = 1",
            "10000"
        ),
        ") ORDER BY turn LIMIT 10000"
    ),
    // A read transaction sees one snapshot from its first read on (WAL).
    begin_snapshot: "BEGIN",
    begin_write: "BEGIN IMMEDIATE",
};

#[derive(Clone, Debug)]
pub struct SqliteStore {
    database: Database,
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
        // The writer's pages stay cached between transactions (no other connection
        // writes): 64 MiB of them, not SQLite's 2 MiB, so the log's indexes are not read
        // back from the file for every group (a crowd's writes touch pages all over them).
        writer.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        writer.set_prepared_statement_cache_capacity(32);
        let turns = WriteTurns::default();
        Ok(Self {
            database: Database::sqlite(pool.clone(), turns.clone(), &DIALECT),
            pool,
            writer: Arc::new(Mutex::new(writer)),
            turns,
            live: LiveJobs::default(),
            node: uuid::Uuid::new_v4().to_string().into(),
        })
    }

    /// The connection pool (tests that change the database behind the store's back).
    pub fn pool(&self) -> SqlitePool {
        self.pool.clone()
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn database(&self) -> &Database {
        &self.database
    }

    async fn write_all(
        &self,
        writes: &[Write],
        now: DateTime<Utc>,
    ) -> Result<Vec<Written>, StoreError> {
        let _turn = self.turns.take().await;
        let mut conn = self.writer.lock().expect("the write connection");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (written, outcome) = commit::write_group(&tx, &self.node, &self.live, writes, now)?;
        tx.commit()?;
        commit::committed(&self.live, outcome);
        Ok(written)
    }

    async fn orphaned_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE status = 'running' AND (claimed_by IS NULL OR claimed_by <> $1) ORDER BY seq"
        ))
        .bind(&*self.node)
        .fetch_all(&self.pool)
        .await?;
        into_jobs(rows)
    }

    async fn renew_leases(&self, _jobs: &[JobId]) -> Result<(), StoreError> {
        // One process: its claims last as long as it does.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::Owner;
    use crate::store::Admission;
    use crate::store::contract::{Opened, create_job, new_job, store_contract};

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
        let pool = store.pool();
        let store: &dyn Store = &store;
        store.check_ready().await.unwrap();
        sqlx::query(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let err = store.check_ready().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NotMigrated {
                    missing: 8,
                    applied: 7
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
        let (_, first) = create_job(&store, new_job(&owner, Admission::UNLIMITED))
            .await
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).await.unwrap();
        let (second, created) = create_job(&store, new_job(&owner, Admission::UNLIMITED))
            .await
            .unwrap();
        assert!(created.id > first.id);
        assert_eq!(second.last_event_id, created.id);
    }
}
