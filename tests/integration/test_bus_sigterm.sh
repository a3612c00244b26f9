#!/usr/bin/env bash
# SIGTERM of a publishing process: it exits 0 within 5 s and nothing it accepted for
# publishing is lost (read back from the broker from the beginning with kcat).
. "$(dirname "$0")/lib.sh"

DRV=$(lw_t_bus_driver)
lw_t_kafka_start 8
D=$LW_T_DIR

lw_t_bg producer "$DRV" produce --brokers "$LW_T_BROKERS" --topic events --rate 20000
PID=$LW_T_LAST_PID
sleep 3
T0=$(date +%s%N)
kill -TERM "$PID"
lw_t_wait_exit "$PID" 10
RC=$LW_T_RC
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
lw_t_eq "producer exits 0 on SIGTERM" 0 "$RC"
if [ "$MS" -lt 5000 ]; then lw_t_ok "exit within 5 s (${MS} ms)"; else lw_t_fail "exit took ${MS} ms"; fi
LINE=$(grep -o 'published=[0-9]* delivered=[0-9]* failed=[0-9]*' "$D/producer.out" || true)
P=$(echo "$LINE" | sed -n 's/published=\([0-9]*\).*/\1/p')
echo "producer: $LINE"
if [ -n "$P" ] && [ "$P" -gt 0 ]; then lw_t_ok "producer published $P messages"; else lw_t_fail "nothing published: [$LINE]"; fi
lw_t_eq "every accepted message delivered before exit" "published=$P delivered=$P failed=0" "$LINE"

kcat -C -b "$LW_T_BROKERS" -t lw.events -o beginning -e -q -f '%s\n' >"$D/read" 2>"$D/kcat.err"
lw_t_eq "messages on the broker" "$P" "$(wc -l <"$D/read")"
lw_t_eq "distinct messages on the broker" "$P" "$(sort -u "$D/read" | wc -l)"
lw_t_eq "the messages are m0..m$((P - 1))" "" \
    "$(comm -3 <(seq 0 $((P - 1)) | sed 's/^/m/' | sort) <(sort -u "$D/read") | head -3 | tr '\n' ' ')"
lw_t_done
