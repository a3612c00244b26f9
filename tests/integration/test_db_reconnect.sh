#!/usr/bin/env bash
# PostgreSQL stopped and started under a running pool (db_driver `bounce`: a query every
# 100 ms, state changes printed): ready turns false within 2 s of the server going away,
# queries fail with db_unavailable meanwhile, ready turns true again after the server is
# back, queries succeed, and the pool stops cleanly (exit 0, no sanitizer report). The log
# has one "connection lost" line with the server's error and one "connected" line per
# recovery, and never the password. Then the same with a hung server (SIGSTOP/SIGCONT).
. "$(dirname "$0")/lib.sh"
DRV=$(lw_t_db_driver)

lw_t_pg_start
URI="$LW_T_DB_URI&password=pw-must-not-leak"
lw_t_bg bounce "$DRV" bounce "$URI"
pid=$LW_T_LAST_PID
OUT="$LW_T_DIR/bounce.out"
ERR="$LW_T_DIR/bounce.err"

lw_t_wait_line "$OUT" '^ready true$' 10 && lw_t_ok "the pool becomes ready" || lw_t_fail "never ready"
lw_t_wait_line "$OUT" '^query ok$' 5 && lw_t_ok "queries succeed" || lw_t_fail "no query succeeded"

for round in 1 2; do
    lw_t_pg_down
    lw_t_wait_line "$OUT" '^ready false$' 2 "$((round + 1))" &&
        lw_t_ok "round $round: ready turns false within 2 s of the server stopping" ||
        lw_t_fail "round $round: still ready 2 s after the server stopped"
    lw_t_wait_line "$OUT" '^query error db_unavailable$' 5 "$round" &&
        lw_t_ok "round $round: queries fail with db_unavailable while it is down" ||
        lw_t_fail "round $round: no db_unavailable error while down"
    sleep 1
    lw_t_pg_up
    # The backoff is at most 5 s; allow for it plus the connection itself.
    lw_t_wait_line "$OUT" '^ready true$' 10 "$((round + 1))" &&
        lw_t_ok "round $round: ready again after the server is back" ||
        lw_t_fail "round $round: not ready 10 s after the server came back"
    lw_t_wait_line "$OUT" '^query ok$' 5 "$((round + 1))" &&
        lw_t_ok "round $round: queries succeed again" ||
        lw_t_fail "round $round: queries still failing after recovery"
done

# A hung server (every PostgreSQL process stopped with SIGSTOP: sockets stay open, nothing
# answers): the health checks notice within a few seconds, and answers bring it back.
pg_pids() {
    local pm
    pm=$(head -n 1 "$LW_T_PGDATA/postmaster.pid")
    echo "$pm" $(ps -o pid= --ppid "$pm")
}
frozen=$(pg_pids)
kill -STOP $frozen
lw_t_wait_line "$OUT" '^ready false$' 5 4 &&
    lw_t_ok "a hung server turns ready false within 5 s" ||
    lw_t_fail "still ready 5 s after the server hung"
kill -CONT $frozen
lw_t_wait_line "$OUT" '^ready true$' 5 4 &&
    lw_t_ok "ready again once the server answers" ||
    lw_t_fail "not ready 5 s after the server resumed"
lw_t_wait_line "$OUT" '^query ok$' 5 4 && lw_t_ok "queries succeed after the hang" ||
    lw_t_fail "queries still failing after the hang"

kill -0 "$pid" 2>/dev/null && lw_t_ok "the process never exited" || lw_t_fail "the process died"
kill -TERM "$pid"
set +e
wait "$pid"
rc=$?
set -e
lw_t_eq "clean stop exits 0" "0" "$rc"
grep -q '^stopped ok=' "$OUT" && lw_t_ok "stop completed" || lw_t_fail "no stop line"
lw_t_eq "one 'connection lost' line per outage" "3" "$(grep -c 'msg="connection lost"' "$ERR")"
lw_t_eq "one 'connected' line at start and per recovery" "4" "$(grep -c 'msg=connected' "$ERR")"
grep 'msg="connection lost"' "$ERR" | head -1 | grep -q 'error=' &&
    lw_t_ok "the lost line carries the server error" || lw_t_fail "no error on the lost line"
if grep -q 'pw-must-not-leak' "$OUT" "$ERR"; then
    lw_t_fail "the password appears in the logs"
else
    lw_t_ok "the password never appears in the logs"
fi
if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$ERR"; then
    lw_t_fail "sanitizer report: $(grep -m3 -E 'Sanitizer|runtime error' "$ERR")"
else
    lw_t_ok "no sanitizer report"
fi
lw_t_done
