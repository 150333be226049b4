//! One group commit on SQLite: what the group needs is read, the shared [`Group`] decides
//! every write, and the outcome is written row by row, all in one `BEGIN IMMEDIATE`
//! transaction on the store's write connection.
//!
//! It runs on that connection, called directly on the calling thread (the event
//! writer's): each statement is a call into SQLite, with no hand-over to another thread
//! and back. Under load such a hand-over waits for a free core, and a group made several
//! of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::job::{Job, JobId};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::owner::Owner;
use crate::store::group::{self, Loaded, Needs, Outcome, Touched};
use crate::store::rows::{JobRow, claimable_queue, details, job_id, select_jobs};
use crate::store::{StoreError, Write, Written};

/// What the last commit left: the jobs queued or running, and the newest event id. The
/// store is the only writer of both, so a change to a job needs no read, and a new event
/// id no look-up.
pub(super) type LiveJobs = Arc<Mutex<Committed>>;

#[derive(Debug, Default)]
pub(super) struct Committed {
    jobs: HashMap<JobId, (Job, Owner)>,
    last_event_id: Option<i64>,
}

/// Writes `writes` as one group through `conn`, which is inside a `BEGIN IMMEDIATE`
/// transaction; returns each write's outcome, and what to hand to [`LiveJobs`] once the
/// transaction has committed.
pub(super) fn write_group(
    conn: &Connection,
    node: &str,
    live: &LiveJobs,
    writes: &[Write],
    now: DateTime<Utc>,
) -> Result<(Vec<Written>, Outcome), StoreError> {
    let loaded = load(conn, live, &Needs::of(writes))?;
    let (written, outcome) = group::decide(loaded, writes, now)?;
    flush(conn, node, &outcome)?;
    Ok((written, outcome))
}

/// After the commit: the jobs it wrote become the known ones (ended and removed ones are
/// dropped), and its head the newest event id.
pub(super) fn committed(live: &LiveJobs, outcome: Outcome) {
    let mut live = live.lock().expect("live jobs");
    for touched in outcome.jobs {
        if touched.job.status.is_terminal() || touched.removed_at.is_some() {
            live.jobs.remove(&touched.job.id);
        } else {
            live.jobs
                .insert(touched.job.id, (touched.job, touched.owner));
        }
    }
    live.last_event_id = Some(outcome.last_event_id);
}

/// Reads what the group needs: inside the transaction, so no other writer changes it
/// before the commit. Admission's counts are counted only up to their limits (whether a
/// limit is reached is all that matters).
fn load(conn: &Connection, live: &LiveJobs, needs: &Needs) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded {
        // A transaction that failed used no id for good: its successor may use them.
        last_event_id: match live.lock().expect("live jobs").last_event_id {
            Some(last) => last,
            // AUTOINCREMENT keeps the largest id ever used in `sqlite_sequence`; an
            // explicit larger id moves it on, and ids are still never reused.
            None => conn
                .prepare_cached(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), \
                     COALESCE((SELECT MAX(id) FROM events), 0))",
                )?
                .query_row([], |row| row.get(0))?,
        },
        ..Loaded::default()
    };
    if let Some(max) = needs.queued_up_to {
        loaded.queued = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' LIMIT ?)",
            )?
            .query_row([i64::from(max)], |row| row.get(0))?;
    }
    for (owner, max) in &needs.in_flight_up_to {
        let count = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE owner = ? \
                 AND status IN ('queued', 'running') LIMIT ?)",
            )?
            .query_row(params![owner.as_str(), i64::from(*max)], |row| row.get(0))?;
        loaded.in_flight.insert(owner.clone(), count);
    }
    for id in &needs.ids {
        loaded.known.extend(job(conn, live, *id)?);
    }
    for old in &needs.retried {
        let retry: Option<String> = conn
            .prepare_cached(
                "SELECT id FROM jobs WHERE retry_of = ? AND status IN ('queued', 'running') \
                 LIMIT 1",
            )?
            .query_row([old.to_string()], |row| row.get(0))
            .optional()?;
        if let Some(retry) = retry {
            loaded.retries.insert(*old, job_id(&retry)?);
        }
    }
    if needs.claims > 0 {
        // As many more as the known jobs, which the group does not take as claimable.
        let up_to = i64::from(needs.claims) + needs.ids.len() as i64;
        let cap = needs.owner_max_running.map_or(i64::MAX, i64::from);
        let kind_caps = serde_json::to_string(&needs.kind_max_running)
            .map_err(|e| StoreError::Corrupt(format!("kind caps: {e}")))?;
        let queued: Vec<String> = conn
            .prepare_cached(concat!(
                "SELECT queued_id FROM (",
                // Capped kinds' jobs by kind (`INDEXED BY`: left to itself, the planner
                // walks the owner's whole queue in order to spare a sort of none).
                claimable_queue!(
                    "JOIN jobs AS j ON (j.rowid IN (SELECT rowid FROM jobs WHERE status = \
                     'queued' AND owner = o.owner AND json_extract(?2, '$.\"' || kind || '\"') \
                     IS NULL ORDER BY seq LIMIT ?3) OR j.rowid IN (SELECT rowid FROM jobs \
                     INDEXED BY jobs_queued_by_owner_kind WHERE status = 'queued' AND owner = \
                     o.owner AND kind IN (SELECT key FROM json_each(?2)) ORDER BY seq LIMIT ?3))",
                    "json_extract(?2, '$.\"' || j.kind || '\"') IS NULL",
                    "?3",
                    "?1"
                ),
                ") WHERE kind_taken <= COALESCE(json_extract(?2, '$.\"' || queued_kind || \
                 '\"'), 9223372036854775807) ORDER BY turn LIMIT ?3"
            ))?
            .query_map(params![cap, kind_caps, up_to], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for id in queued {
            let id = job_id(&id)?;
            let queued = job(conn, live, id)?
                .ok_or_else(|| StoreError::Corrupt(format!("queued job {id} vanished")))?;
            loaded.claimable.push(queued);
        }
    }
    Ok(loaded)
}

/// A job as the last commit left it (if it had not ended), or else as its row holds it.
/// Taken out of the known jobs rather than copied (a job's steps and log are a few dozen
/// allocations, for every event): the commit puts back every job it changed, and one it
/// did not change, or a group that did not commit, is read from its row the next time.
fn job(conn: &Connection, live: &LiveJobs, id: JobId) -> Result<Option<(Job, Owner)>, StoreError> {
    if let Some(job) = live.lock().expect("live jobs").jobs.remove(&id) {
        return Ok(Some(job));
    }
    let row = conn
        .prepare_cached(select_jobs!("WHERE id = ? AND removed_at IS NULL"))?
        .query_row([id.to_string()], JobRow::from_row)
        .optional()?;
    row.map(JobRow::into_job).transpose()
}

/// A time as the store keeps it (RFC 3339, as sqlx writes and reads it).
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Writes what the group did: the jobs first (an event names its job), then the events,
/// then the removed jobs' older events go.
fn flush(conn: &Connection, node: &str, outcome: &Outcome) -> Result<(), StoreError> {
    for touched in &outcome.jobs {
        match touched.was {
            None => insert_job(conn, node, touched)?,
            Some(_) => update_job(conn, node, touched)?,
        }
    }
    for (event, at) in &outcome.events {
        conn.prepare_cached(
            "INSERT INTO events (id, job_id, owner, kind, data, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            event.id.0,
            event.job_id.to_string(),
            event.owner.as_str(),
            event.kind.as_str(),
            event.data,
            stamp(*at),
        ])?;
    }
    for (job_id, removed) in &outcome.removals {
        conn.prepare_cached("DELETE FROM events WHERE job_id = ? AND id < ?")?
            .execute(params![job_id.to_string(), removed.0])?;
    }
    Ok(())
}

fn insert_job(conn: &Connection, node: &str, touched: &Touched) -> Result<(), StoreError> {
    let job = &touched.job;
    conn.prepare_cached(
        "INSERT INTO jobs (id, owner, kind, params, title, status, progress, step, error, \
         result_url, created_at, started_at, finished_at, attempt, retry_of, last_event_id, \
         details, claimed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        job.id.to_string(),
        touched.owner.as_str(),
        job.spec.kind,
        job.spec.params.to_string(),
        job.title,
        job.status.as_str(),
        i64::from(job.progress),
        job.step,
        job.error,
        job.result_url,
        stamp(job.created_at),
        job.started_at.map(stamp),
        job.finished_at.map(stamp),
        i64::from(job.attempt),
        job.retry_of.map(|id| id.to_string()),
        job.last_event_id.0,
        details(job),
        touched.claimed.then_some(node),
    ])?;
    Ok(())
}

fn update_job(conn: &Connection, node: &str, touched: &Touched) -> Result<(), StoreError> {
    let job = &touched.job;
    conn.prepare_cached(
        "UPDATE jobs SET status = ?, progress = ?, step = ?, error = ?, result_url = ?, \
         started_at = ?, finished_at = ?, attempt = ?, last_event_id = ?, details = ?, \
         removed_at = COALESCE(?, removed_at), claimed_by = COALESCE(?, claimed_by) \
         WHERE id = ?",
    )?
    .execute(params![
        job.status.as_str(),
        i64::from(job.progress),
        job.step,
        job.error,
        job.result_url,
        job.started_at.map(stamp),
        job.finished_at.map(stamp),
        i64::from(job.attempt),
        job.last_event_id.0,
        details(job),
        touched.removed_at.map(stamp),
        touched.claimed.then_some(node),
        job.id.to_string(),
    ])?;
    Ok(())
}
