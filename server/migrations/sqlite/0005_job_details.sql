-- What a job's card shows besides its status: when each step began, the newest lines of
-- its log and how much it has processed. One JSON object ({"steps": [...], "log": [...],
-- "processed": {...}}), written with the job's row, read whole.
ALTER TABLE jobs ADD COLUMN details TEXT NOT NULL DEFAULT '{}';

-- The page's filters count the owner's jobs in each state.
CREATE INDEX jobs_by_owner_status ON jobs (owner, status) WHERE removed_at IS NULL;
