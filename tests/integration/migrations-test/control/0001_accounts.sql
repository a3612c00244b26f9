-- Test migration (tests/integration/test_migrate.sh): runs with search_path lw_control.
CREATE TABLE accounts (
    account_id text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
