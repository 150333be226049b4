-- A claim ranks each owner's head of the queue (store::rows::fair_queue): the queued jobs in
-- owner order, and the running ones counted by owner and by kind, each from an index of its
-- own instead of a scan of every job.
CREATE INDEX jobs_queued_by_owner ON jobs (owner, seq) WHERE status = 'queued';
CREATE INDEX jobs_running_by_owner ON jobs (owner, kind) WHERE status = 'running';
CREATE INDEX jobs_running_by_kind ON jobs (kind) WHERE status = 'running';
