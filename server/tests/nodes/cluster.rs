//! A test's cluster: a database of its own, a shared data directory, and nodes.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use app::event::JobEvent;
use app::job::Job;

use crate::process::{
    Client, Events, Server, collect_until, data_dir_in_memory, decode, ends, free_port,
};

/// How long a node's claim holds in these tests: short, so that a lost node is noticed
/// quickly.
pub(crate) const LEASE_SECS: &str = "2";

/// The PostgreSQL server the tests create their databases on.
fn server_url() -> String {
    std::env::var("CANDOR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn admin() -> sqlx::PgConnection {
    let server = server_url();
    PgConnectOptions::from_str(&server)
        .expect("CANDOR_TEST_DATABASE_URL")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {server} (these tests need it): {e}"))
}

/// A database made for one test, dropped at its end.
pub(crate) struct Database {
    pub(crate) url: String,
    name: String,
}

impl Database {
    pub(crate) async fn create() -> Self {
        let name = format!("candor_nodes_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin().await;
        // The name is ours: a fixed prefix and hex digits.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = PgConnectOptions::from_str(&server_url())
            .unwrap()
            .database(&name)
            .to_url_lossy()
            .to_string();
        Self { url, name }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut admin = admin().await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                });
        })
        .join();
    }
}

/// Nodes on one database and one data directory (as on a shared volume).
pub(crate) struct Cluster {
    pub(crate) db: Database,
    pub(crate) data: tempfile::TempDir,
}

impl Cluster {
    pub(crate) async fn new() -> Self {
        Self {
            db: Database::create().await,
            data: data_dir_in_memory(),
        }
    }

    /// Starts a node named `name` with `workers` workers and `env` on top.
    pub(crate) async fn node(&self, name: &str, workers: u32, env: &[(&str, &str)]) -> Server {
        let workers = workers.to_string();
        let mut all = vec![
            ("CANDOR_DATABASE_URL", self.db.url.as_str()),
            ("CANDOR_NODE_NAME", name),
            ("CANDOR_WORKERS", workers.as_str()),
            ("CANDOR_LEASE_SECS", LEASE_SECS),
            ("CANDOR_PROGRESS_INTERVAL_MS", "50"),
        ];
        all.extend_from_slice(env);
        Server::start(self.data.path(), free_port(), &all).await
    }
}

/// Reads `stream` until `job` has made progress (it is running on its node).
pub(crate) async fn until_running(stream: &mut Events, job: &Job) {
    let id = job.id;
    collect_until(
        stream,
        |e| matches!(decode(e), JobEvent::StatusUpdate(u) if u.job_id == id && u.progress > 0),
    )
    .await;
}

/// Follows `job`'s stream through `node` to its ending; the job as it ended.
pub(crate) async fn run_to_end(node: &Client, job: &Job) -> Job {
    let mut stream = node
        .events(&format!("/api/jobs/{}/events", job.id), None)
        .await;
    collect_until(&mut stream, ends(job)).await;
    node.job(job.id).await
}
