-- A claim looks for an owner's queued jobs of capped kinds (an import) by kind, from an index
-- of its own: without it, an owner with thousands of queued jobs of other kinds had each of
-- them read by every claim to find that none is capped.
CREATE INDEX jobs_queued_by_owner_kind ON jobs (owner, kind, seq) WHERE status = 'queued';
