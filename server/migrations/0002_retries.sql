-- A job started with "Retry" links to the job it retries.
ALTER TABLE jobs ADD COLUMN retry_of TEXT REFERENCES jobs (id);
