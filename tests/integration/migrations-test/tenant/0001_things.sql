-- Test migration (tests/integration/test_migrate.sh): runs with search_path t_<tenant>.
CREATE TABLE things (
    thing_id text PRIMARY KEY,
    name text NOT NULL
);
CREATE INDEX things_name_idx ON things (name);
