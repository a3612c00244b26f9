-- Numbered 0002 so that it comes after the registry (is/0001), as every component's tables
-- do (migrations/README.md: by number, then component).
-- The Device Template Converter's import jobs (components/dtc/import*.c): one row per job,
-- one row per imported row of a file with its result. Jobs finished longer ago than
-- dtc.import.retention are deleted (with their rows) when the next job of the tenant starts.
CREATE TABLE dtc_import_jobs (
    job_id uuid PRIMARY KEY,
    application_id text NOT NULL,
    format_id text NOT NULL DEFAULT '',        -- '' for templates given in the request
    dry_run boolean NOT NULL DEFAULT false,
    state text NOT NULL DEFAULT 'RUNNING'       -- RUNNING, WAITING, DONE, FAILED, CANCELED
        CHECK (state IN ('RUNNING', 'WAITING', 'DONE', 'FAILED', 'CANCELED')),
    node text NOT NULL DEFAULT '',              -- the process running it (host:pid)
    bytes_received bigint NOT NULL DEFAULT 0,
    bytes_converted bigint NOT NULL DEFAULT 0,
    created bigint NOT NULL DEFAULT 0,
    updated bigint NOT NULL DEFAULT 0,
    unchanged bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    error jsonb,                                -- FAILED, CANCELED: The Things Stack's error
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE INDEX dtc_import_jobs_application ON dtc_import_jobs (application_id, created_at);
CREATE INDEX dtc_import_jobs_finished ON dtc_import_jobs (finished_at);

CREATE TABLE dtc_import_rows (
    job_id uuid NOT NULL REFERENCES dtc_import_jobs (job_id) ON DELETE CASCADE,
    seq bigint NOT NULL,                        -- 1-based, in the input's order
    line bigint NOT NULL,
    device_id text NOT NULL DEFAULT '',
    result text NOT NULL                        -- CREATED, UPDATED, UNCHANGED, FAILED
        CHECK (result IN ('CREATED', 'UPDATED', 'UNCHANGED', 'FAILED')),
    row jsonb NOT NULL,                         -- the row as GET shows it
    PRIMARY KEY (job_id, seq)
);

CREATE INDEX dtc_import_rows_failed ON dtc_import_rows (job_id, seq) WHERE result = 'FAILED';
