-- The claim of a running job: which process runs it. A job left `running` by another
-- process (one that stopped) is interrupted; PostgreSQL adds a lease for several nodes.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
