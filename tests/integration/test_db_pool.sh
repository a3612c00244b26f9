#!/usr/bin/env bash
# The PostgreSQL pool against a private server (tests/integration/db/db_driver.c `suite`):
# text and NULL parameters, one statement per query, SQL errors, unique violations with the
# constraint name, 300 concurrent queries, transaction commit/rollback visibility, failed
# transactions, scripts, tenant schema creation and purge inside a transaction, connection
# loss inside a transaction and during a query, the queue timeout, and stop with work in
# flight. Each check prints its own ok/FAIL line.
. "$(dirname "$0")/lib.sh"
DRV=$(lw_t_db_driver)

lw_t_pg_start
# A password in the URI (ignored by trust authentication) must never reach the logs.
URI="$LW_T_DB_URI&password=pw-must-not-leak"
set +e
"$DRV" suite "$URI" >"$LW_T_DIR/suite.out" 2>"$LW_T_DIR/suite.err"
rc=$?
set -e
cat "$LW_T_DIR/suite.out"
grep -q '^FAIL' "$LW_T_DIR/suite.out" && cat "$LW_T_DIR/suite.err" >&2
lw_t_eq "the suite exits 0 (no failed check, no sanitizer report)" "0" "$rc"
lw_t_eq "every check passed" "0 failed" "$(tail -n 1 "$LW_T_DIR/suite.out")"
if grep -q 'pw-must-not-leak' "$LW_T_DIR/suite.out" "$LW_T_DIR/suite.err"; then
    lw_t_fail "the password appears in the output"
else
    lw_t_ok "the password never appears in the output"
fi
grep -q 'msg=connecting .*password=<redacted>' "$LW_T_DIR/suite.err" &&
    lw_t_ok "the connecting line shows the URI with the password redacted" ||
    lw_t_fail "no redacted connecting line: $(head -3 "$LW_T_DIR/suite.err")"
lw_t_done
