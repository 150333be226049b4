-- A job started with "Retry" links to the job it retries.
ALTER TABLE jobs ADD COLUMN retry_of TEXT REFERENCES jobs (id);

-- Retention: an expired job's events and files are removed; its row stays behind as a
-- tombstone (removed_at set), so its links answer 410 Gone rather than 404.
ALTER TABLE jobs ADD COLUMN removed_at TEXT;
CREATE INDEX jobs_expiring ON jobs (finished_at) WHERE removed_at IS NULL AND finished_at IS NOT NULL;
