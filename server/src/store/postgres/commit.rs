//! One group commit on PostgreSQL: the rows the group changes are locked and read, then
//! the log's lock is taken, the shared [`Group`] decides every write, and everything is
//! written back in one statement.
//!
//! Round trips are what a write costs here, and every one after the log's lock is taken
//! under it. So the group reads the jobs it changes (and the queued jobs it may claim)
//! before it takes that lock, works on copies, and writes everything back at the end in
//! one statement: the jobs, the events, the removals, the load counters and the log's
//! head with its doorbell, each over arrays (`UNNEST`), whatever the group's size.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder, Row};

use super::LOG_CHANNEL;
use crate::owner::Owner;
use crate::store::group::{Loaded, Needs, Outcome, Touched};
use crate::store::rows::{JobRow, claimable_queue, details, job_columns, job_id};
use crate::store::{StoreError, StoredEvent};

/// The advisory lock that claims under a cap take in turn (any number, the same on every
/// node: "candor claims" in ASCII).
const CAPPED_CLAIMS_LOCK: i64 = 0x63_61_6e_64_63_6c_6d;

/// Locks and reads what the group needs, inside the transaction on `conn`.
pub(super) async fn load(conn: &mut PgConnection, needs: &Needs) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded::default();
    // Before the log's lock, so that it is held for as few round trips as can be: the
    // rows of the jobs the group changes, locked (in id order, the one order every
    // writer locks them in), and the oldest queued jobs its claims may take (skipping
    // those another node is taking). A row locked here is ours until the commit: what is
    // read is what the group changes. `NO KEY UPDATE` leaves the rows free for a foreign
    // key's check (an import's rows naming its job).
    let ids: Vec<String> = needs.ids.iter().map(ToString::to_string).collect();
    if needs.claims > 0 && (needs.owner_max_running.is_some() || !needs.kind_max_running.is_empty())
    {
        // A cap counts the jobs running on every node: one node's claim at a time, each
        // seeing what the one before it committed (the lock is the transaction's).
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CAPPED_CLAIMS_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    if !ids.is_empty() || needs.claims > 0 {
        let rows = sqlx::query(concat!(
            "WITH known AS (SELECT ",
            job_columns!(),
            // Each looked up by primary key (`unnest` joined on `id`): `id = ANY($1)`,
            // planned on a young table's statistics, went through a partial index and
            // filtered every job of the owner by id (2,400 rows read for 46).
            ", NULL::bigint AS queued_seq FROM unnest($1::text[]) AS k(id) JOIN jobs USING \
             (id) WHERE removed_at IS NULL ORDER BY id FOR NO KEY UPDATE OF jobs), \
             capped AS MATERIALIZED (",
            // Ranked a little deeper than the claim takes: rows other nodes are claiming
            // at this moment are skipped (`SKIP LOCKED`), and the next ones must be there.
            // Ranked once (`MATERIALIZED`): inlined, the planner re-ranked the whole queue
            // for each queued row it joined (1,254 times for a claim of 16: 0.3 s).
            claimable_queue!(
                "CROSS JOIN LATERAL ((SELECT id, seq, owner, kind FROM jobs WHERE status = \
                 'queued' AND owner = o.owner AND ($4::jsonb ->> kind) IS NULL ORDER BY seq \
                 LIMIT $2 + 256) UNION ALL (SELECT id, seq, owner, kind FROM jobs WHERE status \
                 = 'queued' AND owner = o.owner AND kind IN (SELECT jsonb_object_keys($4::jsonb)) \
                 ORDER BY seq LIMIT $2 + 256)) AS j",
                "($4::jsonb ->> j.kind) IS NULL",
                "($2 + 256)",
                "$3"
            ),
            "), \
             in_turn AS MATERIALIZED (SELECT ARRAY(SELECT queued_id FROM capped WHERE \
             kind_taken <= COALESCE(($4::jsonb ->> queued_kind)::bigint, 9223372036854775807) \
             ORDER BY turn) AS ids), \
             claimable AS (SELECT ",
            job_columns!(),
            // The claimable jobs looked up by id (their primary key), not joined: a join
            // planned on a young table's statistics scanned every queued job once per
            // ranked one.
            ", array_position((SELECT ids FROM in_turn), jobs.id)::bigint AS turn FROM jobs \
             WHERE jobs.id = ANY((SELECT ids FROM in_turn)::text[]) AND jobs.status = 'queued' \
             AND NOT (jobs.id = ANY($1)) ORDER BY turn LIMIT $2 \
             FOR NO KEY UPDATE OF jobs SKIP LOCKED) \
             SELECT * FROM known UNION ALL SELECT * FROM claimable",
        ))
        .bind(&ids)
        .bind(i64::from(needs.claims))
        .bind(needs.owner_max_running.map_or(i64::MAX, i64::from))
        .bind(sqlx::types::Json(&needs.kind_max_running))
        .fetch_all(&mut *conn)
        .await?;
        let mut claimable = Vec::new();
        for row in rows {
            let job = <JobRow as FromRow<_>>::from_row(&row)?.into_job()?;
            match row.try_get::<Option<i64>, _>("queued_seq")? {
                None => loaded.known.push(job),
                Some(seq) => claimable.push((seq, job)),
            }
        }
        // In turn, as the fair policy gave them.
        claimable.sort_by_key(|(turn, _)| *turn);
        loaded.claimable = claimable.into_iter().map(|(_, job)| job).collect();
    }
    // The log's lock, held until the commit: appends are serialised. Having waited for
    // it, each statement from here on reads what the last commit left.
    (loaded.last_event_id, loaded.queued) =
        sqlx::query_as("SELECT last_id, queued FROM log_head FOR UPDATE")
            .fetch_one(&mut *conn)
            .await?;
    if !needs.retried.is_empty() {
        let old: Vec<String> = needs.retried.iter().map(ToString::to_string).collect();
        let retries: Vec<(String, String)> = sqlx::query_as(
            "SELECT retry_of, id FROM jobs WHERE retry_of = ANY($1) \
             AND status IN ('queued', 'running')",
        )
        .bind(&old)
        .fetch_all(&mut *conn)
        .await?;
        for (old, retry) in retries {
            loaded.retries.insert(job_id(&old)?, job_id(&retry)?);
        }
    }
    if !needs.in_flight_up_to.is_empty() {
        let owners: Vec<&str> = needs.in_flight_up_to.keys().map(Owner::as_str).collect();
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT owner, in_flight FROM owner_load WHERE owner = ANY($1)")
                .bind(&owners)
                .fetch_all(&mut *conn)
                .await?;
        loaded.in_flight = counts
            .into_iter()
            .map(|(owner, count)| (Owner::new(owner), count))
            .collect();
    }
    Ok(loaded)
}

/// Writes what the group did in one statement: its parts are statements of their own in
/// a `WITH`, all seeing the same snapshot, none changing a row another changes. The
/// notification is delivered when (and only if) the transaction commits.
pub(super) async fn flush(
    conn: &mut PgConnection,
    outcome: &Outcome,
    node: &str,
    lease: Duration,
) -> Result<(), StoreError> {
    if outcome.is_empty() {
        // Nothing was stored (every write refused, or a claim that found nothing).
        return Ok(());
    }
    let mut query = QueryBuilder::<Postgres>::new("WITH ");
    JobColumns::of(&outcome.jobs).push_writes(&mut query, node, lease);
    EventColumns::of(&outcome.events).push_insert(&mut query);
    push_removals(&mut query, outcome);
    push_load_and_head(&mut query, outcome);
    query.build().execute(&mut *conn).await?;
    Ok(())
}

/// The removed jobs' events before their `removed` event go.
fn push_removals(query: &mut QueryBuilder<Postgres>, outcome: &Outcome) {
    let (jobs, before): (Vec<String>, Vec<i64>) = outcome
        .removals
        .iter()
        .map(|(job_id, id)| (job_id.to_string(), id.0))
        .unzip();
    query.push(", removed_events AS (DELETE FROM events AS e USING UNNEST(");
    query.push_bind(jobs).push("::text[], ");
    query
        .push_bind(before)
        .push("::bigint[]) AS r(job_id, id) WHERE e.job_id = r.job_id AND e.id < r.id)");
}

/// The load counters that admission reads, and the log's new head with its doorbell.
fn push_load_and_head(query: &mut QueryBuilder<Postgres>, outcome: &Outcome) {
    let (queued, in_flight) = outcome.load_changes();
    let (owners, changes): (Vec<&str>, Vec<i64>) = in_flight
        .into_iter()
        .map(|(owner, change)| (owner.as_str(), change))
        .unzip();
    query.push(", load AS (INSERT INTO owner_load (owner, in_flight) SELECT * FROM UNNEST(");
    query.push_bind(owners).push("::text[], ");
    query.push_bind(changes).push(
        "::bigint[]) ON CONFLICT (owner) DO UPDATE \
         SET in_flight = owner_load.in_flight + EXCLUDED.in_flight)",
    );
    query.push(", head AS (UPDATE log_head SET last_id = ");
    query
        .push_bind(outcome.last_event_id)
        .push(", queued = queued + ");
    query
        .push_bind(queued)
        .push(" RETURNING last_id) SELECT pg_notify(");
    query
        .push_bind(LOG_CHANNEL)
        .push(", last_id::text) FROM head");
}

/// The jobs a group made or changed, as arrays of columns.
#[derive(Default)]
struct JobColumns {
    id: Vec<String>,
    /// Whether the row exists (changed) or not (made by the group: inserted).
    existed: Vec<bool>,
    owner: Vec<String>,
    kind: Vec<String>,
    params: Vec<String>,
    title: Vec<String>,
    status: Vec<&'static str>,
    progress: Vec<i64>,
    step: Vec<Option<String>>,
    error: Vec<Option<String>>,
    result_url: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    started_at: Vec<Option<DateTime<Utc>>>,
    finished_at: Vec<Option<DateTime<Utc>>>,
    attempt: Vec<i64>,
    retry_of: Vec<Option<String>>,
    last_event_id: Vec<i64>,
    details: Vec<String>,
    claimed: Vec<bool>,
    removed_at: Vec<Option<DateTime<Utc>>>,
}

impl JobColumns {
    fn of(jobs: &[Touched]) -> Self {
        let mut columns = Self::default();
        for touched in jobs {
            let job = &touched.job;
            columns.id.push(job.id.to_string());
            columns.existed.push(touched.was.is_some());
            columns.owner.push(touched.owner.as_str().to_owned());
            columns.kind.push(job.spec.kind.clone());
            columns.params.push(job.spec.params.to_string());
            columns.title.push(job.title.clone());
            columns.status.push(job.status.as_str());
            columns.progress.push(i64::from(job.progress));
            columns.step.push(job.step.clone());
            columns.error.push(job.error.clone());
            columns.result_url.push(job.result_url.clone());
            columns.created_at.push(job.created_at);
            columns.started_at.push(job.started_at);
            columns.finished_at.push(job.finished_at);
            columns.attempt.push(i64::from(job.attempt));
            columns.retry_of.push(job.retry_of.map(|id| id.to_string()));
            columns.last_event_id.push(job.last_event_id.0);
            columns.details.push(details(job));
            columns.claimed.push(touched.claimed);
            columns.removed_at.push(touched.removed_at);
        }
        columns
    }

    /// `u`, the jobs as rows (in the group's order); `new_jobs`, those inserted (in
    /// that order: it is the queue's); `changed_jobs`, those updated. A claimed job gets
    /// this node's claim and a lease in the database's clock. (Long for its SQL: one
    /// array per column.)
    fn push_writes(self, query: &mut QueryBuilder<Postgres>, node: &str, lease: Duration) {
        query.push("u AS (SELECT * FROM UNNEST(");
        let mut arrays = query.separated(", ");
        arrays.push_bind(self.id).push_unseparated("::text[]");
        arrays.push_bind(self.existed).push_unseparated("::bool[]");
        arrays.push_bind(self.owner).push_unseparated("::text[]");
        arrays.push_bind(self.kind).push_unseparated("::text[]");
        arrays.push_bind(self.params).push_unseparated("::text[]");
        arrays.push_bind(self.title).push_unseparated("::text[]");
        arrays.push_bind(self.status).push_unseparated("::text[]");
        arrays
            .push_bind(self.progress)
            .push_unseparated("::bigint[]");
        arrays.push_bind(self.step).push_unseparated("::text[]");
        arrays.push_bind(self.error).push_unseparated("::text[]");
        arrays
            .push_bind(self.result_url)
            .push_unseparated("::text[]");
        arrays
            .push_bind(self.created_at)
            .push_unseparated("::timestamptz[]");
        arrays
            .push_bind(self.started_at)
            .push_unseparated("::timestamptz[]");
        arrays
            .push_bind(self.finished_at)
            .push_unseparated("::timestamptz[]");
        arrays
            .push_bind(self.attempt)
            .push_unseparated("::bigint[]");
        arrays.push_bind(self.retry_of).push_unseparated("::text[]");
        arrays
            .push_bind(self.last_event_id)
            .push_unseparated("::bigint[]");
        arrays.push_bind(self.details).push_unseparated("::text[]");
        arrays.push_bind(self.claimed).push_unseparated("::bool[]");
        arrays
            .push_bind(self.removed_at)
            .push_unseparated("::timestamptz[]");
        query.push(
            ") WITH ORDINALITY AS u(id, existed, owner, kind, params, title, status, progress, \
             step, error, result_url, created_at, started_at, finished_at, attempt, retry_of, \
             last_event_id, details, claimed, removed_at, ord)), claim AS (SELECT ",
        );
        query
            .push_bind(node.to_owned())
            .push("::text AS node, now() + make_interval(secs => ");
        query.push_bind(lease.as_secs_f64()).push(
            ") AS lease_until), \
             new_jobs AS (INSERT INTO jobs (id, owner, kind, params, title, status, progress, \
             step, error, result_url, created_at, started_at, finished_at, attempt, retry_of, \
             last_event_id, details, claimed_by, lease_until) \
             SELECT u.id, u.owner, u.kind, u.params, u.title, u.status, u.progress, u.step, \
             u.error, u.result_url, u.created_at, u.started_at, u.finished_at, u.attempt, \
             u.retry_of, u.last_event_id, u.details, \
             CASE WHEN u.claimed THEN claim.node END, \
             CASE WHEN u.claimed THEN claim.lease_until END \
             FROM u, claim WHERE NOT u.existed ORDER BY u.ord), \
             changed_jobs AS (UPDATE jobs AS j SET status = u.status, progress = u.progress, \
             step = u.step, error = u.error, result_url = u.result_url, \
             started_at = u.started_at, finished_at = u.finished_at, attempt = u.attempt, \
             last_event_id = u.last_event_id, details = u.details, \
             removed_at = COALESCE(u.removed_at, j.removed_at), \
             claimed_by = CASE WHEN u.claimed THEN claim.node ELSE j.claimed_by END, \
             lease_until = CASE WHEN u.claimed THEN claim.lease_until ELSE j.lease_until END \
             FROM u, claim WHERE u.existed AND j.id = u.id)",
        );
    }
}

/// The events a group appends, as arrays of columns.
#[derive(Default)]
struct EventColumns {
    id: Vec<i64>,
    job_id: Vec<String>,
    owner: Vec<String>,
    kind: Vec<&'static str>,
    data: Vec<String>,
    created_at: Vec<DateTime<Utc>>,
}

impl EventColumns {
    fn of(events: &[(StoredEvent, DateTime<Utc>)]) -> Self {
        let mut columns = Self::default();
        for (event, at) in events {
            columns.id.push(event.id.0);
            columns.job_id.push(event.job_id.to_string());
            columns.owner.push(event.owner.as_str().to_owned());
            columns.kind.push(event.kind.as_str());
            columns.data.push(event.data.clone());
            columns.created_at.push(*at);
        }
        columns
    }

    fn push_insert(self, query: &mut QueryBuilder<Postgres>) {
        query.push(
            ", new_events AS (INSERT INTO events (id, job_id, owner, kind, data, created_at) \
             SELECT * FROM UNNEST(",
        );
        let mut arrays = query.separated(", ");
        arrays.push_bind(self.id).push_unseparated("::bigint[]");
        arrays.push_bind(self.job_id).push_unseparated("::text[]");
        arrays.push_bind(self.owner).push_unseparated("::text[]");
        arrays.push_bind(self.kind).push_unseparated("::text[]");
        arrays.push_bind(self.data).push_unseparated("::text[]");
        arrays
            .push_bind(self.created_at)
            .push_unseparated("::timestamptz[]");
        query.push("))");
    }
}
