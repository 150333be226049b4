//! The shared store: one PostgreSQL database for several nodes.
//!
//! Every write transaction first locks the log's one `log_head` row and gives out event
//! ids from it, so appends are serialised across nodes: ids are committed in the order
//! they are given out, and a reader that has seen id N never later finds a smaller one
//! committed (the trap of sequence ids, which are handed out in one order and committed
//! in another). The lock is taken once per group commit (a whole burst of a node's
//! writes), and held for as few round trips as can be: the group locks the rows of the
//! jobs it changes (and the queued jobs it may claim) before it takes the log's lock,
//! then writes everything in one statement and commits. Each commit that appended
//! events also sends `NOTIFY candor_log` with the log's new head, the doorbell the nodes
//! follow the log by ([`crate::events::follower`]). Admission reads the queue's size and
//! each owner's jobs in flight from counters that every commit keeps (migration 0002).
//!
//! A claimed job carries the claiming node's name and a lease (in the database's clock),
//! which the node renews while it runs the job; a job whose lease has expired is an
//! orphan that any node ends or queues again.

mod group;

use std::str::FromStr;
use std::time::Duration;

use app::event::EventId;
use app::job::{Job, JobId, JobList, JobStatus, StatusCounts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{FromRow, PgPool, Postgres, Row};

use super::rows::{EventRow, JobRow, SELECT_TOKENS, TokenRow, job_columns, select_jobs};
use super::{Store, StoreError, StoredEvent, TokenInfo, Write, Written};
use crate::owner::Owner;
use group::Group;

/// The channel every commit that appended events notifies, with the newest id.
pub const LOG_CHANNEL: &str = "candor_log";

/// How to reach the database, and this node's part in it.
#[derive(Clone, Debug)]
pub struct PgSettings {
    /// `postgres://user@host/database`
    pub url: String,
    /// The most connections this node opens.
    pub max_connections: u32,
    /// This node's name in its claims (unique per process).
    pub node: String,
    /// How long a claim holds without renewal.
    pub lease: Duration,
}

/// This build's migrations, applied at start.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    node: String,
    lease: Duration,
}

impl PgStore {
    /// Connects to the database (creating it if the server has none of that name) and
    /// applies the migrations (one node at a time: sqlx holds an advisory lock while it
    /// migrates).
    pub async fn open(settings: &PgSettings) -> Result<Self, StoreError> {
        if !Postgres::database_exists(&settings.url).await? {
            match Postgres::create_database(&settings.url).await {
                Ok(()) => tracing::info!("created the database"),
                // Another node starting at the same moment made it first.
                Err(_) if Postgres::database_exists(&settings.url).await? => {}
                Err(err) => return Err(err.into()),
            }
        }
        let options = PgConnectOptions::from_str(&settings.url)?.application_name("candor");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            // A request waits this long for a connection before it is answered 503.
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            node: settings.node.clone(),
            lease: settings.lease,
        })
    }

    /// The connection pool (the orders table, the log's follower).
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    fn jobs_from(rows: Vec<JobRow>) -> Result<Vec<Job>, StoreError> {
        rows.into_iter()
            .map(|row| row.into_job().map(|(job, _)| job))
            .collect()
    }
}

/// The jobs `writes` change by id, each once, in id order.
fn known_ids(writes: &[Write]) -> Vec<String> {
    let mut ids: Vec<String> = writes
        .iter()
        .filter_map(Write::job_id)
        .map(|id| id.to_string())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[async_trait]
impl Store for PgStore {
    async fn write_all(
        &self,
        writes: &[Write],
        now: DateTime<Utc>,
    ) -> Result<Vec<Written>, StoreError> {
        let began = std::time::Instant::now();
        let mut tx = self.pool.begin().await?;
        // Before the log's lock, so that it is held for as few round trips as can be:
        // the rows of the jobs the group changes, locked (in id order, the one order
        // every writer locks them in), and the oldest queued jobs its claims may take
        // (skipping those another node is taking). A row locked here is ours until the
        // commit: what is read is what the group changes. `NO KEY UPDATE` leaves the
        // rows free for a foreign key's check (an import's rows naming its job).
        let known_ids = known_ids(writes);
        let claims: i64 = writes
            .iter()
            .map(|write| match write {
                Write::Claim { max } => i64::from(*max),
                _ => 0,
            })
            .sum();
        let mut known = Vec::new();
        let mut claimable = Vec::new();
        if !known_ids.is_empty() || claims > 0 {
            let rows = sqlx::query(concat!(
                "WITH known AS (SELECT ",
                job_columns!(),
                ", NULL::bigint AS queued_seq FROM jobs \
                 WHERE id = ANY($1) AND removed_at IS NULL ORDER BY id FOR NO KEY UPDATE), \
                 claimable AS (SELECT ",
                job_columns!(),
                ", seq FROM jobs WHERE status = 'queued' AND NOT (id = ANY($1)) \
                 ORDER BY seq LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED) \
                 SELECT * FROM known UNION ALL SELECT * FROM claimable",
            ))
            .bind(&known_ids)
            .bind(claims)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let job = <JobRow as FromRow<_>>::from_row(&row)?;
                match row.try_get::<Option<i64>, _>("queued_seq")? {
                    None => known.push(job),
                    Some(seq) => claimable.push((seq, job)),
                }
            }
            claimable.sort_by_key(|(seq, _)| *seq);
        }
        // The log's lock, held until the commit: appends are serialised. Having waited
        // for it, the statement reads the row as the last commit left it.
        let (last, queued): (i64, i64) =
            sqlx::query_as("SELECT last_id, queued FROM log_head FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        let claimable = claimable.into_iter().map(|(_, job)| job).collect();
        let mut group = Group::new(last, queued, known, claimable, &self.node, self.lease)?;
        let mut written = Vec::with_capacity(writes.len());
        for write in writes {
            written.push(group.write(&mut tx, write, now).await?);
        }
        group.flush(&mut tx).await?;
        tx.commit().await?;
        tracing::trace!(
            writes = writes.len(),
            millis = began.elapsed().as_secs_f64() * 1000.0,
            "group committed"
        );
        Ok(written)
    }

    async fn job(&self, owner: &Owner, id: JobId) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE id = $1 AND owner = $2 AND removed_at IS NULL"
        ))
        .bind(id.to_string())
        .bind(owner.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(JobRow::into_job).transpose()?.map(|(job, _)| job))
    }

    async fn was_removed(&self, owner: &Owner, id: JobId) -> Result<bool, StoreError> {
        let removed: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM jobs WHERE id = $1 AND owner = $2 AND removed_at IS NOT NULL",
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
            "WHERE removed_at IS NULL AND finished_at IS NOT NULL AND finished_at < $1 "
            "ORDER BY finished_at LIMIT $2"
        ))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Self::jobs_from(rows)
    }

    async fn jobs(
        &self,
        owner: &Owner,
        limit: u32,
        before: Option<JobId>,
    ) -> Result<JobList, StoreError> {
        // One snapshot: the job rows, the counts and the event id agree.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let last: i64 = sqlx::query_scalar("SELECT last_id FROM log_head")
            .fetch_one(&mut *tx)
            .await?;
        // One more than asked: whether older jobs follow.
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE owner = $1 AND removed_at IS NULL "
            "AND ($2::text IS NULL OR seq < (SELECT seq FROM jobs WHERE id = $2 AND owner = $1)) "
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
        let mut counts = StatusCounts::default();
        for (status, count) in by_status {
            let status: JobStatus = status
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("a job's status: {e}")))?;
            counts.set(status, u64::try_from(count).unwrap_or(0));
        }
        let more = rows.len() > limit as usize;
        let jobs = Self::jobs_from(rows.into_iter().take(limit as usize).collect())?;
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
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, job_id, owner, kind, data FROM events \
             WHERE owner = $1 AND id > $2 AND ($3::text IS NULL OR job_id = $3) \
             ORDER BY id LIMIT $4",
        )
        .bind(owner.as_str())
        .bind(after.0)
        .bind(job.map(|id| id.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn log_after(&self, after: EventId, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, job_id, owner, kind, data FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn last_event_id(&self) -> Result<EventId, StoreError> {
        let last: i64 = sqlx::query_scalar("SELECT last_id FROM log_head")
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
        let queued: i64 = sqlx::query_scalar("SELECT queued FROM log_head")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(queued).unwrap_or(0))
    }

    async fn running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> =
            sqlx::query_as(select_jobs!("WHERE status = 'running' ORDER BY seq"))
                .fetch_all(&self.pool)
                .await?;
        Self::jobs_from(rows)
    }

    async fn orphaned_jobs(&self) -> Result<Vec<Job>, StoreError> {
        // The database's clock, the one the leases were written in.
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now()) "
            "ORDER BY seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        Self::jobs_from(rows)
    }

    async fn renew_leases(&self, jobs: &[JobId]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = jobs.iter().map(ToString::to_string).collect();
        // The rows are locked in id order, the one order every writer locks them in.
        sqlx::query(
            "WITH locked AS (SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id \
             FOR NO KEY UPDATE) \
             UPDATE jobs AS j SET lease_until = now() + make_interval(secs => $3) \
             FROM locked WHERE j.id = locked.id AND j.claimed_by = $2 AND j.status = 'running'",
        )
        .bind(&ids)
        .bind(&self.node)
        .bind(self.lease.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_token(&self, token: &TokenInfo, hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, hash, owner, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT owner FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL",
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
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(revoked.rows_affected() == 1)
    }
}

/// A database of its own for each test, on the PostgreSQL server named by
/// `CANDOR_TEST_DATABASE_URL` (the local one by default), dropped when the test ends.
#[cfg(test)]
pub(crate) mod scratch {
    use std::str::FromStr;

    use sqlx::postgres::PgConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    /// The server tests create their databases on.
    pub(crate) fn server_url() -> String {
        std::env::var("CANDOR_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    /// A new, empty database; dropped (with whatever is connected to it) on drop.
    pub(crate) struct Scratch {
        pub url: String,
        name: String,
    }

    impl Scratch {
        pub(crate) async fn create() -> Self {
            let server = server_url();
            let name = format!("candor_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = PgConnectOptions::from_str(&server)
                .expect("CANDOR_TEST_DATABASE_URL")
                .connect()
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {server} (the tests need it): {e}"));
            // The name is ours: a fixed prefix and a UUID's hex digits.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create a test database");
            let _ = admin.close().await;
            let url = PgConnectOptions::from_str(&server)
                .expect("CANDOR_TEST_DATABASE_URL")
                .database(&name)
                .to_url_lossy()
                .to_string();
            Self { url, name }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let name = self.name.clone();
            // A runtime of its own: drop may run inside or outside one.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    let server = server_url();
                    if let Ok(mut admin) = PgConnectOptions::from_str(&server)
                        .expect("CANDOR_TEST_DATABASE_URL")
                        .connect()
                        .await
                    {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::scratch::Scratch;
    use super::*;
    use crate::store::contract::{Opened, store_contract};

    async fn open() -> Opened {
        let scratch = Scratch::create().await;
        let store = PgStore::open(&PgSettings {
            url: scratch.url.clone(),
            max_connections: 4,
            node: "test-node".to_owned(),
            lease: Duration::from_secs(15),
        })
        .await
        .unwrap();
        Opened {
            store: Arc::new(store),
            _keep: Box::new(scratch),
        }
    }

    store_contract!(open);
}
