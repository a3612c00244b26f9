#!/usr/bin/env bash
# `lwstack migrate` against a private PostgreSQL, with the test migrations of
# tests/integration/migrations-test/ and variants built here:
# - applies control files to lw_control and tenant files to every tenant schema, printing
#   one line per file; a second run applies nothing and changes nothing (pg_dump, versions);
# - a broken control or tenant file → exit 1, the message names the file, the schema and the
#   SQL error, and that schema keeps its previous version (the file's other statements are
#   rolled back);
# - a renamed or missing applied file, a pending file older than an applied one, and a badly
#   named file are refused before anything runs;
# - tenant files in component folders (migrations/tenant/<component>/NNNN_name.sql) are
#   numbered per component and applied by (number, component); a component's gap is refused,
#   another component's higher number is not; two files of one component with one number
#   are refused naming both; a file moved from tenant/ into a component folder stays applied;
# - a database migrated by the previous lwstack (bookkeeping without components) is a no-op
#   for the embedded migrations of this one, whose tenant file moved to tenant/is/.
. "$(dirname "$0")/lib.sh"
DRV=$(lw_t_db_driver)

lw_t_pg_start
SRC="$LWSTACK_SRC/tests/integration/migrations-test"

migrate() { # migrate DIR: runs lwstack migrate; sets OUT, ERR, RC
    set +e
    "$LWSTACK_BIN" migrate --db.uri="$LW_T_DB_URI" --db.migrations-dir="$1" \
        >"$LW_T_DIR/m.out" 2>"$LW_T_DIR/m.err"
    RC=$?
    set -e
    OUT=$(cat "$LW_T_DIR/m.out")
    ERR=$(cat "$LW_T_DIR/m.err")
}
versions() {
    lw_t_psql -c "SELECT schema_name || ' ' || kind || ' ' || version || ' ' || name || ' ' ||
                         applied_at FROM lw_control.schema_migrations ORDER BY 1"
}
dump() { # pg_dump 15.14+ wraps its output in \restrict KEY lines with a random key
    lw_t_as_pg "$(lw_t_pg_bin)/pg_dump" --schema-only -h "$LW_T_PGSOCK" -U lwstack lwstack |
        grep -vE '^\\(un)?restrict '
}
variant() { # variant NAME: a copy of the v2 folder to modify
    rm -rf "$LW_T_DIR/$1"
    cp -r "$LW_T_DIR/v2" "$LW_T_DIR/$1"
    echo "$LW_T_DIR/$1"
}

# v1: the committed test folder.
migrate "$SRC"
lw_t_eq "first run exits 0" "0" "$RC"
lw_t_eq "first run prints the applied file and a total" \
    "applied control/0001_accounts.sql to schema lw_control
1 migration applied" "$OUT"
lw_t_eq "lw_control.accounts exists" "accounts" \
    "$(lw_t_psql -c "SELECT tablename FROM pg_tables WHERE schemaname = 'lw_control' AND tablename = 'accounts'")"

# Two tenant schemas created the way tenant creation does (inside one transaction).
for t in t_alpha t_beta; do
    out=$("$DRV" tenant-create "$LW_T_DB_URI" "$SRC" "$t" 2>"$LW_T_DIR/drv.err") || {
        cat "$LW_T_DIR/drv.err" >&2
        lw_t_fail "tenant-create $t"
    }
    lw_t_eq "tenant schema $t created" "created $t" "$out"
done

# v2: a new control file and a new tenant file.
cp -r "$SRC" "$LW_T_DIR/v2"
cat >"$LW_T_DIR/v2/control/0002_settings.sql" <<'SQL'
CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO settings VALUES ('created-by', 'test_migrate');
SQL
cat >"$LW_T_DIR/v2/tenant/0002_more.sql" <<'SQL'
ALTER TABLE things ADD COLUMN color text;
CREATE TABLE more_things (id int PRIMARY KEY);
SQL
migrate "$LW_T_DIR/v2"
lw_t_eq "v2 run exits 0" "0" "$RC"
lw_t_eq "v2 applies the control file, then the tenant file to every tenant schema" \
    "applied control/0002_settings.sql to schema lw_control
applied tenant/0002_more.sql to schema t_alpha
applied tenant/0002_more.sql to schema t_beta
3 migrations applied" "$OUT"
lw_t_eq "versions recorded per schema" \
    "lw_control control 1 0001_accounts.sql
lw_control control 2 0002_settings.sql
t_alpha tenant 1 0001_things.sql
t_alpha tenant 2 0002_more.sql
t_beta tenant 1 0001_things.sql
t_beta tenant 2 0002_more.sql" \
    "$(lw_t_psql -c "SELECT schema_name || ' ' || kind || ' ' || version || ' ' || name
                     FROM lw_control.schema_migrations ORDER BY schema_name, version")"
lw_t_eq "tenant tables live in their schemas" "2" \
    "$(lw_t_psql -c "SELECT count(*) FROM pg_tables WHERE tablename = 'more_things' AND schemaname IN ('t_alpha', 't_beta')")"

# Second run: nothing applied, nothing changed.
dump >"$LW_T_DIR/dump.before"
versions >"$LW_T_DIR/versions.before"
migrate "$LW_T_DIR/v2"
lw_t_eq "second run exits 0" "0" "$RC"
lw_t_eq "second run applies nothing" "0 migrations applied" "$OUT"
dump >"$LW_T_DIR/dump.after"
versions >"$LW_T_DIR/versions.after"
if cmp -s "$LW_T_DIR/dump.before" "$LW_T_DIR/dump.after"; then
    lw_t_ok "second run leaves the schema dump identical"
else
    lw_t_fail "second run changed the schema: $(diff "$LW_T_DIR/dump.before" "$LW_T_DIR/dump.after" | head -20)"
fi
lw_t_eq "second run leaves the version table identical (applied_at included)" \
    "$(cat "$LW_T_DIR/versions.before")" "$(cat "$LW_T_DIR/versions.after")"

# A broken control file: its first statement would succeed, its second fails.
d=$(variant broken-control)
printf 'CREATE TABLE half_done (id int);\nINSERT INTO nowhere VALUES (1);\n' \
    >"$d/control/0003_broken.sql"
migrate "$d"
lw_t_eq "a broken control file exits 1" "1" "$RC"
lw_t_eq "the message names the file, the schema and the SQL error (with its line)" \
    'lwstack migrate: migration control/0003_broken.sql failed on schema lw_control: relation "nowhere" does not exist (line 2)' \
    "$ERR"
lw_t_eq "lw_control stays at version 2" "2" \
    "$(lw_t_psql -c "SELECT max(version) FROM lw_control.schema_migrations WHERE schema_name = 'lw_control'")"
lw_t_eq "the broken file's first statement was rolled back" "0" \
    "$(lw_t_psql -c "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'")"

# A broken tenant file fails on the first tenant schema; the others are not touched.
d=$(variant broken-tenant)
printf 'CREATE TABLE t3 (id int);\nSELECT no_such_function();\n' >"$d/tenant/0003_broken.sql"
migrate "$d"
lw_t_eq "a broken tenant file exits 1" "1" "$RC"
case "$ERR" in
*"migration tenant/0003_broken.sql failed on schema t_alpha: function no_such_function() does not exist"*)
    lw_t_ok "the message names the tenant file, the schema and the SQL error" ;;
*) lw_t_fail "unexpected message: $ERR" ;;
esac
lw_t_eq "tenant schemas stay at version 2" "t_alpha 2,t_beta 2" \
    "$(lw_t_psql -c "SELECT string_agg(schema_name || ' ' || v, ',' ORDER BY schema_name) FROM
        (SELECT schema_name, max(version) v FROM lw_control.schema_migrations
         WHERE kind = 'tenant' GROUP BY 1) x")"
lw_t_eq "nothing of the broken tenant file remains" "0" \
    "$(lw_t_psql -c "SELECT count(*) FROM pg_tables WHERE tablename = 't3'")"

# Applied history that no longer matches the files.
d=$(variant renamed)
mv "$d/control/0002_settings.sql" "$d/control/0002_preferences.sql"
migrate "$d"
lw_t_eq "a renamed applied file exits 1" "1" "$RC"
lw_t_eq "the message names both names" \
    "lwstack migrate: migration history of schema lw_control does not match the files: version 2 was applied as control/0002_settings.sql but the file is now control/0002_preferences.sql" \
    "$ERR"

d=$(variant missing)
rm "$d/tenant/0002_more.sql"
migrate "$d"
lw_t_eq "a missing applied file exits 1" "1" "$RC"
lw_t_eq "the message names the missing file" \
    "lwstack migrate: migration history of schema t_alpha does not match the files: version 2 (tenant/0002_more.sql) is applied but there is no tenant file with that version" \
    "$ERR"

d=$(variant gap)
printf 'CREATE TABLE late (id int);\n' >"$d/control/0005_late.sql"
lw_t_psql -c "INSERT INTO lw_control.schema_migrations (schema_name, kind, version, name)
              VALUES ('lw_control', 'control', 5, '0005_late.sql')"
printf 'CREATE TABLE early (id int);\n' >"$d/control/0003_early.sql"
migrate "$d"
lw_t_eq "a pending file older than an applied one exits 1" "1" "$RC"
lw_t_eq "the message names the pending file" \
    "lwstack migrate: migration control/0003_early.sql is pending on schema lw_control but the later version 5 (0005_late.sql) is already applied; refusing to apply out of order" \
    "$ERR"
lw_t_psql -c "DELETE FROM lw_control.schema_migrations WHERE version = 5 AND kind = 'control'"

d=$(variant badname)
printf 'SELECT 1;\n' >"$d/control/3_bad.sql"
migrate "$d"
lw_t_eq "a badly named file exits 1" "1" "$RC"
case "$ERR" in
*"control/3_bad.sql is not named NNNN_name.sql"*) lw_t_ok "the message names the badly named file" ;;
*) lw_t_fail "unexpected message: $ERR" ;;
esac

dump >"$LW_T_DIR/dump.end"
if cmp -s "$LW_T_DIR/dump.before" "$LW_T_DIR/dump.end"; then
    lw_t_ok "after every failed run the schema is as before"
else
    lw_t_fail "a failed run changed the schema: $(diff "$LW_T_DIR/dump.before" "$LW_T_DIR/dump.end" | head -20)"
fi

# Tenant purge removes the schema and its versions; migrate then ignores it.
out=$("$DRV" tenant-drop "$LW_T_DB_URI" t_beta 2>"$LW_T_DIR/drv.err")
lw_t_eq "tenant schema dropped" "dropped t_beta" "$out"
migrate "$LW_T_DIR/v2"
lw_t_eq "migrate after a purge applies nothing" "0 migrations applied" "$OUT"
lw_t_eq "the purged schema has no versions left" "0" \
    "$(lw_t_psql -c "SELECT count(*) FROM lw_control.schema_migrations WHERE schema_name = 't_beta'")"

# Two runs at once: the advisory lock serialises them and the versions stay consistent.
d=$(variant concurrent)
printf 'SELECT pg_sleep(2);\nCREATE TABLE slow (id int);\n' >"$d/control/0003_slow.sql"
"$LWSTACK_BIN" migrate --db.uri="$LW_T_DB_URI" --db.migrations-dir="$d" >"$LW_T_DIR/c1.out" 2>&1 &
p1=$!
sleep 0.7
"$LWSTACK_BIN" migrate --db.uri="$LW_T_DB_URI" --db.migrations-dir="$d" >"$LW_T_DIR/c2.out" 2>&1 &
p2=$!
wait $p1 && wait $p2 && lw_t_ok "two concurrent runs both exit 0" || lw_t_fail "a concurrent run failed: $(cat "$LW_T_DIR"/c?.out)"
# Whichever got the lock first applied the file; the other waited, then applied nothing.
lw_t_eq "one run applied the file, the other waited then applied nothing" \
    "0 migrations applied
1 migration applied
applied control/0003_slow.sql to schema lw_control
waiting for another \`lwstack migrate\` to finish" \
    "$(cat "$LW_T_DIR/c1.out" "$LW_T_DIR/c2.out" | LC_ALL=C sort)"
lw_t_eq "the slow file was applied once" "1" \
    "$(lw_t_psql -c "SELECT count(*) FROM lw_control.schema_migrations WHERE name = '0003_slow.sql'")"

# Tenant creation waits for a running `lwstack migrate` (shared advisory lock), so a run
# never misses a schema created while it runs.
d=$(variant lock)
printf 'SELECT pg_sleep(2);\n' >"$d/control/0004_pause.sql"
cp "$LW_T_DIR/concurrent/control/0003_slow.sql" "$d/control/"
"$LWSTACK_BIN" migrate --db.uri="$LW_T_DB_URI" --db.migrations-dir="$d" >"$LW_T_DIR/l.out" 2>&1 &
p1=$!
lw_t_wait_for "the migration lock to be taken" 10 bash -c \
    "[ \"\$(psql '$LW_T_DB_URI' -XAtc \"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted\")\" -ge 1 ]"
t0=$(date +%s%N)
out=$("$DRV" tenant-create "$LW_T_DB_URI" "$LW_T_DIR/v2" t_gamma 2>"$LW_T_DIR/drv.err")
t1=$(date +%s%N)
wait $p1 || lw_t_fail "the migrate run failed: $(cat "$LW_T_DIR/l.out")"
lw_t_eq "tenant schema t_gamma created during a migrate run" "created t_gamma" "$out"
[ $(( (t1 - t0) / 1000000 )) -ge 1000 ] &&
    lw_t_ok "its creation waited for the migrate run ($(( (t1 - t0) / 1000000 )) ms)" ||
    lw_t_fail "its creation did not wait for the migrate run ($(( (t1 - t0) / 1000000 )) ms)"
lw_t_eq "t_gamma holds every tenant migration" "1 2" \
    "$(lw_t_psql -c "SELECT string_agg(version::text, ' ' ORDER BY version) FROM lw_control.schema_migrations WHERE schema_name = 't_gamma'")"

# ---- Component folders ----------------------------------------------------------------
comp_versions() {
    lw_t_psql -c "SELECT schema_name || ' ' || component || ' ' || version || ' ' || name
                  FROM lw_control.schema_migrations WHERE kind = 'tenant'
                  ORDER BY schema_name, component, version"
}
rm -rf "$LW_T_DIR/comp"
cp -r "$LW_T_DIR/lock" "$LW_T_DIR/comp"
d="$LW_T_DIR/comp"
mkdir -p "$d/tenant/is" "$d/tenant/ns"
printf 'CREATE TABLE people (id int PRIMARY KEY);\n' >"$d/tenant/is/0001_people.sql"
# Number 1 of ns runs after number 1 of is and of the files directly in tenant/ (things).
printf 'CREATE TABLE links (thing_id text REFERENCES things, person int REFERENCES people);\n' \
    >"$d/tenant/ns/0001_links.sql"
migrate "$d"
lw_t_eq "component files apply by number, then component, to every tenant schema" \
    "applied tenant/is/0001_people.sql to schema t_alpha
applied tenant/ns/0001_links.sql to schema t_alpha
applied tenant/is/0001_people.sql to schema t_gamma
applied tenant/ns/0001_links.sql to schema t_gamma
4 migrations applied" "$OUT"
lw_t_eq "versions are recorded per component, names without the folder" \
    "t_alpha  1 0001_things.sql
t_alpha  2 0002_more.sql
t_alpha is 1 0001_people.sql
t_alpha ns 1 0001_links.sql
t_gamma  1 0001_things.sql
t_gamma  2 0002_more.sql
t_gamma is 1 0001_people.sql
t_gamma ns 1 0001_links.sql" "$(comp_versions)"

# A later ns file is applied; then an is file with a lower number arrives: it applies (it is
# another component's), while an ns file below an applied ns one is refused.
printf 'CREATE TABLE late (id int);\n' >"$d/tenant/ns/0005_late.sql"
migrate "$d"
lw_t_eq "ns/0005 applies to both schemas" "0 2 migrations applied" "$RC $(printf '%s\n' "$OUT" | tail -1)"
printf 'ALTER TABLE people ADD COLUMN name text;\n' >"$d/tenant/is/0002_names.sql"
migrate "$d"
lw_t_eq "is/0002 applies although ns/0005 is applied" \
    "0 applied tenant/is/0002_names.sql to schema t_alpha
applied tenant/is/0002_names.sql to schema t_gamma
2 migrations applied" "$RC $OUT"
rm -rf "$LW_T_DIR/comp-gap"
cp -r "$d" "$LW_T_DIR/comp-gap"
printf 'CREATE TABLE early (id int);\n' >"$LW_T_DIR/comp-gap/tenant/ns/0004_early.sql"
migrate "$LW_T_DIR/comp-gap"
lw_t_eq "an ns file below an applied ns file is refused" \
    "1 lwstack migrate: migration tenant/ns/0004_early.sql is pending on schema t_alpha but the later version 5 (0005_late.sql) is already applied; refusing to apply out of order" \
    "$RC $ERR"

# Two files of one component with one number: refused before anything runs, naming both.
rm -rf "$LW_T_DIR/comp-dup"
cp -r "$d" "$LW_T_DIR/comp-dup"
printf 'SELECT 1;\n' >"$LW_T_DIR/comp-dup/tenant/is/0003_b.sql"
printf 'SELECT 1;\n' >"$LW_T_DIR/comp-dup/tenant/is/0003_a.sql"
printf 'SELECT 1;\n' >"$LW_T_DIR/comp-dup/tenant/ns/0003_a.sql"
migrate "$LW_T_DIR/comp-dup"
lw_t_eq "one component, one number, two files → exit 1 naming both" \
    "1 lwstack migrate: migrations: tenant/is/0003_a.sql and tenant/is/0003_b.sql have the same version 3" \
    "$RC $ERR"
rm -rf "$LW_T_DIR/comp-badname"
cp -r "$d" "$LW_T_DIR/comp-badname"
mkdir "$LW_T_DIR/comp-badname/tenant/Net-Server"
migrate "$LW_T_DIR/comp-badname"
case "$RC $ERR" in
"1 lwstack migrate: migrations: tenant/Net-Server/ is not named as a component"*)
    lw_t_ok "a folder not named as a component → exit 1 naming it" ;;
*) lw_t_fail "unexpected: $RC $ERR" ;;
esac

# A file moved from tenant/ into a component folder, name kept: still applied.
dump >"$LW_T_DIR/dump.comp"
mkdir -p "$d/tenant/things"
mv "$d/tenant/0002_more.sql" "$d/tenant/things/0002_more.sql"
migrate "$d"
lw_t_eq "a file moved into its component's folder is not applied again" \
    "0 0 migrations applied" "$RC $OUT"
dump >"$LW_T_DIR/dump.moved"
cmp -s "$LW_T_DIR/dump.comp" "$LW_T_DIR/dump.moved" &&
    lw_t_ok "and nothing changed" || lw_t_fail "moving a file changed the schema"
"$DRV" tenant-create "$LW_T_DB_URI" "$d" t_delta >/dev/null 2>"$LW_T_DIR/drv.err" ||
    lw_t_fail "tenant-create t_delta: $(cat "$LW_T_DIR/drv.err")"
lw_t_eq "a new tenant schema records the moved file under its component, in order" \
    "t_delta  1 0001_things.sql
t_delta is 1 0001_people.sql
t_delta ns 1 0001_links.sql
t_delta is 2 0002_names.sql
t_delta things 2 0002_more.sql
t_delta ns 5 0005_late.sql" \
    "$(lw_t_psql -c "SELECT schema_name || ' ' || component || ' ' || version || ' ' || name
                     FROM lw_control.schema_migrations WHERE schema_name = 't_delta'
                     ORDER BY applied_at, version, component")"
migrate "$d"
lw_t_eq "migrate after it applies nothing" "0 0 migrations applied" "$RC $OUT"

# ---- A database migrated by the previous lwstack ----------------------------------------
# Its bookkeeping had no component column and the key (schema_name, version), and its one
# tenant file was migrations/tenant/0001_identity.sql (now tenant/is/0001_identity.sql).
# The state is written here as that lwstack left it: its table, its rows, the files applied.
lw_t_as_pg "$(lw_t_pg_bin)/createdb" -h "$LW_T_PGSOCK" -U lwstack lwstack_old
OLD_URI="postgresql:///lwstack_old?host=$LW_T_PGSOCK&user=lwstack"
old_psql() { psql "$OLD_URI" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
old_dump() {
    lw_t_as_pg "$(lw_t_pg_bin)/pg_dump" --schema-only -h "$LW_T_PGSOCK" -U lwstack \
        --exclude-table=lw_control.schema_migrations lwstack_old | grep -vE '^\\(un)?restrict '
}
old_psql <<'SQL'
CREATE SCHEMA lw_control;
CREATE TABLE lw_control.schema_migrations (
    schema_name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('control', 'tenant')),
    version integer NOT NULL CHECK (version > 0),
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, version)
);
SQL
for f in "$LWSTACK_SRC"/migrations/control/*.sql; do
    n=$(basename "$f")
    { echo "BEGIN; SET LOCAL search_path TO lw_control;"; cat "$f"
      echo "INSERT INTO lw_control.schema_migrations (schema_name, kind, version, name)
            VALUES ('lw_control', 'control', ${n%%_*}, '$n'); COMMIT;"; } | old_psql
done
for t in t_old_one t_old_two; do
    { echo "BEGIN; CREATE SCHEMA $t; SET LOCAL search_path TO $t;"
      cat "$LWSTACK_SRC/migrations/tenant/is/0001_identity.sql"
      echo "INSERT INTO lw_control.schema_migrations (schema_name, kind, version, name)
            VALUES ('$t', 'tenant', 1, '0001_identity.sql'); COMMIT;"; } | old_psql
done
old_rows() {
    old_psql -c "SELECT schema_name || ' ' || kind || ' ' || version || ' ' || name || ' ' ||
                        applied_at FROM lw_control.schema_migrations ORDER BY 1"
}
# The files that lwstack had: its control files and the one tenant file, now in is/. (The
# embedded set has grown since: other components' tenant files, applied at the end.)
OLD_MIG="$LW_T_DIR/old-migrations"
mkdir -p "$OLD_MIG/control" "$OLD_MIG/tenant/is"
cp "$LWSTACK_SRC"/migrations/control/*.sql "$OLD_MIG/control/"
cp "$LWSTACK_SRC/migrations/tenant/is/0001_identity.sql" "$OLD_MIG/tenant/is/"
old_dump >"$LW_T_DIR/old.before"
old_rows >"$LW_T_DIR/old.rows.before"
set +e
"$LWSTACK_BIN" migrate --db.uri="$OLD_URI" --db.migrations-dir="$OLD_MIG" >"$LW_T_DIR/m.out" 2>"$LW_T_DIR/m.err"
RC=$?
set -e
lw_t_eq "its migrations on a database of the previous lwstack apply nothing" \
    "0 0 migrations applied " "$RC $(cat "$LW_T_DIR/m.out") $(cat "$LW_T_DIR/m.err")"
old_dump >"$LW_T_DIR/old.after"
cmp -s "$LW_T_DIR/old.before" "$LW_T_DIR/old.after" &&
    lw_t_ok "its schemas are unchanged" ||
    lw_t_fail "its schemas changed: $(diff "$LW_T_DIR/old.before" "$LW_T_DIR/old.after" | head -20)"
lw_t_eq "its version rows are unchanged (applied_at included)" \
    "$(cat "$LW_T_DIR/old.rows.before")" "$(old_rows)"
lw_t_eq "its bookkeeping gained the component column ('' for the old rows) and key" \
    "$(( $(ls "$LWSTACK_SRC"/migrations/control/*.sql | wc -l) + 2 )) 0 schema_name,component,version" \
    "$(old_psql -c "SELECT count(*), count(*) FILTER (WHERE component <> '') FROM lw_control.schema_migrations" | tr '|' ' ') $(old_psql -c "SELECT string_agg(a.attname, ',' ORDER BY k.n)
        FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = 'lw_control.schema_migrations'::regclass AND i.indisprimary")"
"$DRV" tenant-create "$OLD_URI" "$OLD_MIG" t_old_three >/dev/null 2>"$LW_T_DIR/drv.err" ||
    lw_t_fail "tenant-create t_old_three: $(cat "$LW_T_DIR/drv.err")"
lw_t_eq "a tenant created afterwards records its file under component is" \
    "t_old_three is 1 0001_identity.sql" \
    "$(old_psql -c "SELECT schema_name || ' ' || component || ' ' || version || ' ' || name
                   FROM lw_control.schema_migrations WHERE schema_name = 't_old_three'")"
"$LWSTACK_BIN" migrate --db.uri="$OLD_URI" --db.migrations-dir="$OLD_MIG" >"$LW_T_DIR/m.out" 2>&1 ||
    lw_t_fail "second run on the old database: $(cat "$LW_T_DIR/m.out")"
lw_t_eq "a second run applies nothing either" "0 migrations applied" "$(cat "$LW_T_DIR/m.out")"
# The embedded set then applies exactly the tenant files added since, to each of the three.
added=$(cd "$LWSTACK_SRC/migrations" && ls tenant/*/*.sql | grep -vxF tenant/is/0001_identity.sql | wc -l)
"$LWSTACK_BIN" migrate --db.uri="$OLD_URI" >"$LW_T_DIR/m.out" 2>&1 ||
    lw_t_fail "embedded migrations on the old database: $(cat "$LW_T_DIR/m.out")"
lw_t_eq "the embedded migrations then apply the files added since, to every schema" \
    "$((added * 3)) migrations applied" "$(tail -1 "$LW_T_DIR/m.out")"

lw_t_done
