-- Jobs and their event log. The log is the truth that streams replay from; each job row
-- is the log's latest state for that job, updated in the same transaction as the append.

CREATE TABLE jobs (
    -- Insertion order: the queue is served oldest first, lists are shown newest first.
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    owner         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    params        TEXT    NOT NULL,          -- JSON
    status        TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    progress      INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    step          TEXT,
    error         TEXT,
    result_url    TEXT,
    attempt       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    last_event_id INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX jobs_by_owner ON jobs (owner, seq DESC);
CREATE INDEX jobs_queued ON jobs (seq) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (seq) WHERE status = 'running';

CREATE TABLE events (
    -- AUTOINCREMENT: ids strictly increase and are never reused, even after deletes.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT    NOT NULL REFERENCES jobs (id),
    owner      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,             -- the JSON payload exactly as streamed
    created_at TEXT    NOT NULL
);

CREATE INDEX events_by_owner ON events (owner, id);
CREATE INDEX events_by_job ON events (job_id, id);
