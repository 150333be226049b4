-- Candor on PostgreSQL: the same jobs, event log and tokens as the SQLite store, for
-- several nodes on one database.

CREATE TABLE jobs (
    -- Insertion order: the queue is served oldest first, lists are shown newest first.
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT        NOT NULL UNIQUE,
    owner         TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    params        TEXT        NOT NULL,          -- JSON
    title         TEXT        NOT NULL DEFAULT '',
    status        TEXT        NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    progress      BIGINT      NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    step          TEXT,
    error         TEXT,
    result_url    TEXT,
    attempt       BIGINT      NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    retry_of      TEXT        REFERENCES jobs (id),
    last_event_id BIGINT      NOT NULL DEFAULT 0,
    details       TEXT        NOT NULL DEFAULT '{}',  -- JSON: steps, log, processed
    removed_at    TIMESTAMPTZ,
    -- The claim of a running job: the node running it, and until when its lease holds.
    -- The node renews the lease while it runs the job; once it has expired, any node
    -- ends the job as lost.
    claimed_by    TEXT,
    lease_until   TIMESTAMPTZ
);

CREATE INDEX jobs_by_owner ON jobs (owner, seq DESC);
CREATE INDEX jobs_by_owner_status ON jobs (owner, status) WHERE removed_at IS NULL;
CREATE INDEX jobs_queued ON jobs (seq) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_in_flight ON jobs (owner) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_expiring ON jobs (finished_at) WHERE removed_at IS NULL AND finished_at IS NOT NULL;

-- The log. Ids are given out by the writing transaction from `log_head`, whose one row
-- every writer locks first: appends are serialised, so ids are committed in the order
-- they are given out and a reader that has seen id N never later finds a smaller one.
CREATE TABLE events (
    id         BIGINT      PRIMARY KEY,
    job_id     TEXT        NOT NULL REFERENCES jobs (id),
    owner      TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    data       TEXT        NOT NULL,             -- the JSON payload exactly as streamed
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX events_by_owner ON events (owner, id);
CREATE INDEX events_by_job ON events (job_id, id);

CREATE TABLE log_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    last_id  BIGINT  NOT NULL
);
INSERT INTO log_head (last_id) VALUES (0);

-- API tokens: only a token's SHA-256 is kept.
CREATE TABLE api_tokens (
    id         TEXT        PRIMARY KEY,
    hash       BYTEA       NOT NULL UNIQUE,
    owner      TEXT        NOT NULL,
    label      TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

-- Orders loaded by `import` jobs (see the SQLite migrations for the rules).
CREATE TABLE imports (
    job_id     TEXT        PRIMARY KEY REFERENCES jobs (id),
    state      TEXT        NOT NULL CHECK (state IN ('loading', 'loaded')),
    rows       BIGINT      NOT NULL DEFAULT 0,
    started_at TIMESTAMPTZ NOT NULL,
    loaded_at  TIMESTAMPTZ
);

CREATE TABLE orders (
    id           BIGINT PRIMARY KEY,
    date         TEXT   NOT NULL,
    customer     TEXT   NOT NULL,
    region       TEXT   NOT NULL,
    amount_cents BIGINT NOT NULL,
    import_id    TEXT   NOT NULL REFERENCES imports (job_id) ON DELETE CASCADE,
    source_row   BIGINT NOT NULL
);

CREATE INDEX orders_by_import ON orders (import_id);
