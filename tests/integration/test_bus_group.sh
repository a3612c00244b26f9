#!/usr/bin/env bash
# A consumer group spread over two processes on one `lwstack kafka-dev` broker: each
# partition is held by exactly one member; after SIGKILL of one member its partitions move
# to the other, and every message published (before and after the kill) is consumed at
# least once. Duplicates can only come from offsets the killed member had not committed
# yet; they are counted and reported.
. "$(dirname "$0")/lib.sh"

N=20000
PARTS=8
DRV=$(lw_t_bus_driver)
lw_t_kafka_start "$PARTS"
D=$LW_T_DIR
# A low session timeout so the group notices the killed member within seconds.
K=(--brokers "$LW_T_BROKERS" --topic ns.dev --kafka session.timeout.ms=6000
   --kafka heartbeat.interval.ms=500)

lw_t_bg a "$DRV" consume "${K[@]}" --group lw-test-group --out "$D/a.msgs" --assign "$D/a.parts"
PID_A=$LW_T_LAST_PID
lw_t_bg b "$DRV" consume "${K[@]}" --group lw-test-group --out "$D/b.msgs" --assign "$D/b.parts"
PID_B=$LW_T_LAST_PID

both_hold() {
    [ -s "$D/a.parts" ] && [ -s "$D/b.parts" ] &&
        [ "$(cat "$D/a.parts" "$D/b.parts" | wc -w)" -eq "$PARTS" ] &&
        [ -n "$(tr -d ' \n' <"$D/a.parts")" ] && [ -n "$(tr -d ' \n' <"$D/b.parts")" ]
}
lw_t_wait_for "both members to hold partitions" 60 both_hold
echo "member a holds: $(cat "$D/a.parts")"
echo "member b holds: $(cat "$D/b.parts")"
ALL=$(seq 0 $((PARTS - 1)) | tr '\n' ' ' | sed 's/ $//')
lw_t_eq "every partition held by exactly one member" "$ALL" \
    "$(cat "$D/a.parts" "$D/b.parts" | tr ' ' '\n' | grep -v '^$' | sort -n | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "no partition held twice" "" \
    "$(cat "$D/a.parts" "$D/b.parts" | tr ' ' '\n' | grep -v '^$' | sort | uniq -d | tr '\n' ' ')"
B_PARTS=$(cat "$D/b.parts")

# Publish N messages over ~5 s; kill member b in the middle of the stream.
lw_t_bg producer "$DRV" produce --brokers "$LW_T_BROKERS" --topic ns.dev --count "$N" --rate 4000
PID_P=$LW_T_LAST_PID
sleep 2
kill -KILL "$PID_B"
echo "member b killed after $(wc -l <"$D/b.msgs") messages"
lw_t_wait_exit "$PID_P" 60
lw_t_eq "producer exits 0" 0 "$LW_T_RC"
lw_t_eq "producer delivered every message" "published=$N delivered=$N failed=0" \
    "$(grep -o 'published=[0-9]* delivered=[0-9]* failed=[0-9]*' "$D/producer.out")"

# Member b only ever consumed from its own partitions.
BAD=$(awk -v parts=" $B_PARTS " 'index(parts, " " $2 " ") == 0' "$D/b.msgs" | wc -l)
lw_t_eq "member b consumed only its partitions before the kill" 0 "$BAD"

a_holds_all() { [ "$(cat "$D/a.parts")" == "$ALL" ]; }
if lw_t_wait_for "member a to take over every partition" 60 a_holds_all; then
    lw_t_ok "member b's partitions moved to member a ($B_PARTS)"
else
    lw_t_fail "member a holds [$(cat "$D/a.parts")] after the kill, expected [$ALL]"
fi

unique_count() { cat "$D/a.msgs" "$D/b.msgs" | cut -d' ' -f1 | sort -u | wc -l; }
all_consumed() { [ "$(unique_count)" -eq "$N" ]; }
lw_t_wait_for "the group to consume all $N messages" 90 all_consumed || true
lw_t_eq "every published message consumed at least once" "$N" "$(unique_count)"
MISSING=$(comm -23 <(seq 0 $((N - 1)) | sed 's/^/m/' | sort) \
    <(cat "$D/a.msgs" "$D/b.msgs" | cut -d' ' -f1 | sort -u) | head -5 | tr '\n' ' ')
lw_t_eq "no message missing" "" "$MISSING"
TOTAL=$(cat "$D/a.msgs" "$D/b.msgs" | wc -l)
DUPS=$((TOTAL - $(unique_count)))
echo "duplicates (uncommitted by the killed member, redelivered): $DUPS"
# A redelivered copy must come from a partition member b held: only those had offsets
# left uncommitted by a crash.
BAD_DUPS=$(cat "$D/a.msgs" "$D/b.msgs" | sort | awk '{print $1, $2}' | uniq -d |
    awk -v parts=" $B_PARTS " 'index(parts, " " $2 " ") == 0' | wc -l)
lw_t_eq "duplicates only from the killed member's partitions" 0 "$BAD_DUPS"
# Same value on the same partition at one offset: ids must match (the lw-id header).
IDS=$(cat "$D/a.msgs" "$D/b.msgs" | awk '{print $1, $4}' | sort -u | cut -d' ' -f1 | uniq -d | wc -l)
lw_t_eq "a redelivered message keeps its lw-id" 0 "$IDS"
lw_t_eq "every message carries a 32-hex-digit lw-id" 0 \
    "$(cat "$D/a.msgs" "$D/b.msgs" | awk 'length($4) != 32 || $4 !~ /^[0-9a-f]+$/' | wc -l)"

kill -TERM "$PID_A"
lw_t_wait_exit "$PID_A" 10
lw_t_eq "member a exits 0 on SIGTERM" 0 "$LW_T_RC"
lw_t_done
