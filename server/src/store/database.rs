//! The database behind a store, SQLite or PostgreSQL, for the statements written once for
//! both: each is written with `$N` parameters in the SQL both understand, and compiled for
//! each database by [`with_pool!`]. The few statements that must differ are named in the
//! backend's [`Dialect`].

use sqlx::{PgPool, SqlitePool};

use super::WriteTurns;

/// Where the jobs, their log, the tokens and the orders are kept.
#[derive(Clone, Debug)]
pub struct Database {
    db: Db,
    dialect: &'static Dialect,
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite { pool: SqlitePool, turns: WriteTurns },
    Postgres(PgPool),
}

/// What one backend says differently.
#[derive(Debug)]
pub(super) struct Dialect {
    /// This build's migrations, applied at start.
    pub(super) migrator: &'static sqlx::migrate::Migrator,
    /// The newest event id (0 for an empty log).
    pub(super) last_event_id: &'static str,
    /// How many jobs wait in the queue.
    pub(super) queued_jobs: &'static str,
    /// The first [`QUEUE_SHOWN`](super::QUEUE_SHOWN) queued jobs (`queued_id`,
    /// `queued_owner`) in the order the fair policy would start them (caps aside).
    pub(super) queue_order: &'static str,
    /// Begins a read-only transaction whose reads all see one snapshot.
    pub(super) begin_snapshot: &'static str,
    /// Begins a writing transaction (SQLite: with the write lock taken at once).
    pub(super) begin_write: &'static str,
}

/// Runs `$body` with `$pool` bound to the database's pool: the body is compiled once for
/// each database, so one statement serves both.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::database::Db::Sqlite { pool: $pool, .. } => $body,
            $crate::store::database::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

impl Database {
    /// An SQLite database; writers through the pool take their turn with the store's.
    pub(super) fn sqlite(pool: SqlitePool, turns: WriteTurns, dialect: &'static Dialect) -> Self {
        Self {
            db: Db::Sqlite { pool, turns },
            dialect,
        }
    }

    pub(super) fn postgres(pool: PgPool, dialect: &'static Dialect) -> Self {
        Self {
            db: Db::Postgres(pool),
            dialect,
        }
    }

    /// The pool, for [`with_pool!`].
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(super) fn dialect(&self) -> &'static Dialect {
        self.dialect
    }

    /// This writer's turn (SQLite: one writer at a time, in arrival order; see
    /// [`WriteTurns`]). Every write through the pool takes it first.
    pub(crate) async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.db {
            Db::Sqlite { turns, .. } => Some(turns.take().await),
            Db::Postgres(_) => None,
        }
    }

    /// How a writing transaction begins.
    pub(crate) fn begin_write(&self) -> &'static str {
        self.dialect.begin_write
    }
}
