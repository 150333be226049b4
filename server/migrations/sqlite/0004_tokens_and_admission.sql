-- API tokens for non-browser clients. Only a token's SHA-256 is kept: the token itself
-- is shown once, when it is created, and cannot be recovered from the database.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    hash       BLOB NOT NULL UNIQUE,
    owner      TEXT NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Admission counts an owner's jobs in flight on every request.
CREATE INDEX jobs_in_flight ON jobs (owner) WHERE status IN ('queued', 'running');
