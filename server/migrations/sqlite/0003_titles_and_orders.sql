-- Each job keeps the title its kind gave it when it was accepted ("Export 1,000 rows").
ALTER TABLE jobs ADD COLUMN title TEXT NOT NULL DEFAULT '';

-- Orders loaded by `import` jobs. An import's rows are written in batches and count as
-- data only once its row here says 'loaded'; deleting an unfinished import deletes its
-- rows with it.
CREATE TABLE imports (
    job_id     TEXT    PRIMARY KEY REFERENCES jobs (id),
    state      TEXT    NOT NULL CHECK (state IN ('loading', 'loaded')),
    rows       INTEGER NOT NULL DEFAULT 0,
    started_at TEXT    NOT NULL,
    loaded_at  TEXT
);

CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,      -- the order id from the file
    date         TEXT    NOT NULL,         -- YYYY-MM-DD
    customer     TEXT    NOT NULL,
    region       TEXT    NOT NULL,
    amount_cents INTEGER NOT NULL,
    import_id    TEXT    NOT NULL REFERENCES imports (job_id) ON DELETE CASCADE,
    source_row   INTEGER NOT NULL          -- the row of the file it came from
);

CREATE INDEX orders_by_import ON orders (import_id);
