#!/usr/bin/env bash
# `lwstack kafka-dev`: prints its bootstrap address, writes it to --bootstrap-file, creates
# the standard topics with --partitions partitions, serves the Kafka protocol, and exits 0
# on SIGTERM.
. "$(dirname "$0")/lib.sh"
D=$LW_T_DIR

lw_t_bg kdev "$LWSTACK_BIN" kafka-dev --partitions 6 --bootstrap-file "$D/bootstrap"
PID=$LW_T_LAST_PID
lw_t_wait_for "the bootstrap file" 20 test -s "$D/bootstrap"
ADDR=$(cat "$D/bootstrap")
if [[ "$ADDR" =~ ^127\.0\.0\.1:[0-9]+$ ]]; then lw_t_ok "bootstrap address $ADDR"; else lw_t_fail "bootstrap file holds [$ADDR]"; fi
lw_t_wait_for "the address on stdout" 5 grep -q . "$D/kdev.out"
lw_t_eq "stdout prints the same address" "$ADDR" "$(head -1 "$D/kdev.out")"
META=$(kcat -L -b "$ADDR" -t lw.tenant 2>&1 || true)
lw_t_eq "lw.tenant has 6 partitions" 1 "$(echo "$META" | grep -c 'topic "lw.tenant" with 6 partitions')"
META=$(kcat -L -b "$ADDR" 2>&1 || true)
for t in gs.up ns.dev ns.up as.down gs.down gs.txack events tenant; do
    echo "$META" | grep -q "topic \"lw.$t\" with 6 partitions" || lw_t_fail "topic lw.$t missing"
done
lw_t_ok "standard topics created"
printf 'hello\n' | kcat -P -b "$ADDR" -t lw.events -k dev 2>/dev/null
lw_t_eq "a message round-trips through the broker" hello \
    "$(kcat -C -b "$ADDR" -t lw.events -o beginning -e -q -f '%s\n' 2>/dev/null)"

T0=$(date +%s%N)
kill -TERM "$PID"
lw_t_wait_exit "$PID" 10
lw_t_eq "kafka-dev exits 0 on SIGTERM" 0 "$LW_T_RC"
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
if [ "$MS" -lt 5000 ]; then lw_t_ok "exit within 5 s (${MS} ms)"; else lw_t_fail "exit took ${MS} ms"; fi

RC=0
"$LWSTACK_BIN" kafka-dev --no-such-flag >/dev/null 2>"$D/usage.err" || RC=$?
lw_t_eq "an unknown flag exits 2" 2 "$RC"
lw_t_done
