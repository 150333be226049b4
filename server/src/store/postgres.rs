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

mod commit;

use std::str::FromStr;
use std::time::Duration;

use app::job::{Job, JobId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::database::{Database, Dialect};
use super::group::{self, Needs};
use super::rows::{JobRow, fair_queue, into_jobs, select_jobs};
use super::{Store, StoreError, Write, Written};

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

static DIALECT: Dialect = Dialect {
    migrator: &MIGRATOR,
    // Kept by every commit (the log's head and the queue's counter, migration 0002).
    last_event_id: "SELECT last_id FROM log_head",
    queued_jobs: "SELECT queued FROM log_head",
    queue_order: concat!(
        "SELECT queued_id, queued_owner FROM (",
        fair_queue!(
            "CROSS JOIN LATERAL (SELECT id, seq, owner, kind FROM jobs WHERE status = 'queued' \
             AND owner = o.owner ORDER BY seq LIMIT 10000) AS j",
            "1 = 1",
            "10000"
        ),
        ") AS fair ORDER BY turn LIMIT 10000"
    ),
    begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    begin_write: "BEGIN",
};

/// Connections kept for writing: the group commit, and the renewal of this node's leases.
const WRITE_CONNECTIONS: u32 = 2;

#[derive(Clone, Debug)]
pub struct PgStore {
    database: Database,
    /// For reads (requests, streams' replays, the log's follower).
    pool: PgPool,
    /// For writes alone, so that a flood of reads can never keep the writer waiting or a
    /// lease from being renewed (which would end this node's healthy jobs as lost).
    writes: PgPool,
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
            .connect_with(options.clone())
            .await?;
        let writes = PgPoolOptions::new()
            .max_connections(WRITE_CONNECTIONS)
            .min_connections(WRITE_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&writes).await?;
        Ok(Self {
            database: Database::postgres(pool.clone(), &DIALECT),
            pool,
            writes,
            node: settings.node.clone(),
            lease: settings.lease,
        })
    }

    /// Whether a group whose commit went unanswered is in the database. The log's lock
    /// is taken first: the unanswered transaction holds it until the server has
    /// committed it or rolled it back, so what is found then is the outcome.
    async fn landed(&self, outcome: &group::Outcome) -> bool {
        let Some((last, _)) = outcome.events.last() else {
            // It stored nothing: committed or not, nothing changed.
            return true;
        };
        let found = async {
            let mut tx = self.writes.begin().await?;
            sqlx::query("SET LOCAL lock_timeout = '10s'")
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT 1 FROM log_head FOR UPDATE")
                .execute(&mut *tx)
                .await?;
            let found = sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM events WHERE id = $1 AND job_id = $2 AND kind = $3)",
            )
            .bind(last.id.0)
            .bind(last.job_id.to_string())
            .bind(last.kind.as_str())
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            Ok::<_, sqlx::Error>(found)
        };
        matches!(found.await, Ok(true))
    }

    /// The connection pool (the log's follower listens on it).
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }
}

#[async_trait]
impl Store for PgStore {
    fn database(&self) -> &Database {
        &self.database
    }

    async fn write_all(
        &self,
        writes: &[Write],
        now: DateTime<Utc>,
    ) -> Result<Vec<Written>, StoreError> {
        let began = std::time::Instant::now();
        let mut tx = self.writes.begin().await?;
        let loaded = commit::load(&mut tx, &Needs::of(writes)).await?;
        let (written, outcome) = group::decide(loaded, writes, now)?;
        commit::flush(&mut tx, &outcome, &self.node, self.lease).await?;
        if let Err(err) = tx.commit().await {
            // The connection may have been cut after the server committed: whoever
            // retries must know which it was, or a job would end twice or get its log
            // line twice. The group's last event says (its id, job and kind).
            if self.landed(&outcome).await {
                tracing::warn!(error = %err, "the answer to a commit was lost, but it was committed");
            } else {
                return Err(err.into());
            }
        }
        tracing::trace!(
            writes = writes.len(),
            millis = began.elapsed().as_secs_f64() * 1000.0,
            "group committed"
        );
        Ok(written)
    }

    async fn orphaned_jobs(&self) -> Result<Vec<Job>, StoreError> {
        // The database's clock, the one the leases were written in.
        let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(
            "WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now()) "
            "ORDER BY seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        into_jobs(rows)
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
        .execute(&self.writes)
        .await?;
        Ok(())
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

    use sqlx::ConnectOptions;

    use super::scratch::Scratch;
    use super::*;
    use crate::store::ClaimLimits;
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

    /// Every read connection held (a flood of slow reads): the writer and the lease
    /// renewal still get theirs at once.
    #[tokio::test]
    async fn writes_and_leases_do_not_wait_for_reads() {
        let scratch = Scratch::create().await;
        let pg = PgStore::open(&PgSettings {
            url: scratch.url.clone(),
            max_connections: 2,
            node: "test-node".to_owned(),
            lease: Duration::from_secs(15),
        })
        .await
        .unwrap();
        let held = [
            pg.pool.acquire().await.unwrap(),
            pg.pool.acquire().await.unwrap(),
        ];
        assert!(
            tokio::time::timeout(Duration::from_millis(200), pg.pool.acquire())
                .await
                .is_err(),
            "every read connection is taken"
        );
        let writes = [Write::Claim {
            max: 1,
            limits: ClaimLimits::none(),
        }];
        let written =
            tokio::time::timeout(Duration::from_secs(3), pg.write_all(&writes, Utc::now()))
                .await
                .expect("the writer is not starved by reads");
        assert!(written.is_ok(), "{written:?}");
        let renewed = tokio::time::timeout(
            Duration::from_secs(3),
            pg.renew_leases(&[JobId(uuid::Uuid::new_v4())]),
        )
        .await
        .expect("lease renewal is not starved by reads");
        assert!(renewed.is_ok(), "{renewed:?}");
        drop(held);
    }

    /// A proxy to PostgreSQL that, once armed (`disarmed` set to false), forwards a
    /// client's `COMMIT` and then cuts the connection before the answer comes back: the
    /// server committed, the client cannot know.
    async fn commit_cutting_proxy(
        server: (String, u16),
    ) -> (u16, Arc<std::sync::atomic::AtomicBool>) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let disarmed = Arc::new(AtomicBool::new(true));
        let cut_once = disarmed.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = tokio::net::TcpStream::connect(&server).await.unwrap();
                let cut_once = cut_once.clone();
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = upstream.into_split();
                    let cut = Arc::new(tokio::sync::Notify::new());
                    let heard_commit = cut.clone();
                    let up = tokio::spawn(async move {
                        let mut buffer = vec![0u8; 64 * 1024];
                        while let Ok(n) = client_read.read(&mut buffer).await {
                            if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                            let commit = buffer[..n].windows(7).any(|w| w == b"COMMIT\0");
                            if commit && !cut_once.swap(true, Ordering::SeqCst) {
                                heard_commit.notify_one();
                                // Keep the server's side open until it has committed.
                                std::future::pending::<()>().await;
                            }
                        }
                    });
                    let mut buffer = vec![0u8; 64 * 1024];
                    loop {
                        tokio::select! {
                            read = server_read.read(&mut buffer) => match read {
                                Ok(n) if n > 0 => {
                                    if client_write.write_all(&buffer[..n]).await.is_err() {
                                        break;
                                    }
                                }
                                _ => break,
                            },
                            () = cut.notified() => break,
                        }
                    }
                    // Dropping the client's halves closes its connection.
                    drop(client_write);
                    up.abort();
                });
            }
        });
        (port, disarmed)
    }

    /// The answer to a COMMIT is lost, but the server committed: the group is reported
    /// stored (not failed), so no caller writes it again.
    #[tokio::test]
    async fn a_commit_whose_answer_is_lost_is_found_committed_not_replayed() {
        use crate::owner::Owner;
        use crate::store::contract::new_job;
        use crate::store::{Admission, Written};
        let scratch = Scratch::create().await;
        let options = PgConnectOptions::from_str(&scratch.url).unwrap();
        let server = (options.get_host().to_owned(), options.get_port());
        let (proxy, disarmed) = commit_cutting_proxy(server).await;
        let url = options
            .host("127.0.0.1")
            .port(proxy)
            .to_url_lossy()
            .to_string();
        let pg = PgStore::open(&PgSettings {
            url,
            max_connections: 2,
            node: "test-node".to_owned(),
            lease: Duration::from_secs(15),
        })
        .await
        .unwrap();
        let owner = Owner::new("b-someone");
        disarmed.store(false, std::sync::atomic::Ordering::SeqCst);
        let writes = [Write::Create(new_job(&owner, Admission::UNLIMITED))];
        let written = pg.write_all(&writes, Utc::now()).await;
        assert!(
            matches!(written.as_deref(), Ok([Written::Created(Ok(_))])),
            "the committed group is reported stored: {written:?}"
        );
        let store: &dyn Store = &pg;
        let listed = store.jobs(&owner, 10, None).await.unwrap();
        assert_eq!(listed.jobs.len(), 1, "one job, stored once");
    }
}
