-- Admission reads how many jobs are queued (cluster-wide) and in flight (per owner)
-- from these counters instead of counting rows under the log's lock. Every write
-- transaction holds that lock and applies its own changes to them, so they are exact.
ALTER TABLE log_head ADD COLUMN queued BIGINT NOT NULL DEFAULT 0;
UPDATE log_head SET queued = (SELECT COUNT(*) FROM jobs WHERE status = 'queued');

CREATE TABLE owner_load (
    owner     TEXT   PRIMARY KEY,
    in_flight BIGINT NOT NULL  -- queued or running
);
INSERT INTO owner_load (owner, in_flight)
    SELECT owner, COUNT(*) FROM jobs WHERE status IN ('queued', 'running') GROUP BY owner;
