#!/usr/bin/env bash
# Payload formatters (issue 10 item 3) through `lwstack formatter-worker` processes, driven by
# fmt_driver (tests/integration/as/): every case of formatters/cases.txt gives what node
# computes for the same script and input; CayenneLPP with exact values; a script that loops
# and one that allocates without end fail with script_timeout / script_memory while another
# application's calls keep being answered; the Device Repository's codec is found by
# version_ids in a checkout laid out as TheThingsNetwork/lorawan-devices; the worker's
# seccomp filter refuses sockets and execve.
set -euo pipefail
src=${LWSTACK_SRC:?}
bin=${LWSTACK_BIN:?}
drv=$(cd "$(dirname "$bin")/../.." && pwd)/tests/integration/as/fmt_driver
fdir=$src/tests/integration/as/formatters
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. The same output as node, case by case.
{
    for s in modern legacy throws norm; do echo "script $s $fdir/$s.js"; done
    grep -v '^#' "$fdir/cases.txt" | grep . | sed 's/^ddown /ddown /'
    echo wait
} > "$tmp/cmds"
"$drv" "$bin" 1000 268435456 2 < "$tmp/cmds" > "$tmp/out"
node "$src/tests/integration/as/fmt_node.js" "$fdir" "$fdir/cases.txt" "$tmp/out" ||
    { cat "$tmp/out"; fail "formatters differ from node"; }

# 2. CayenneLPP, exact (TTS's keys and scales; reals printed as Go prints them).
printf 'lpp acme\nup acme 1 03670110056700ff\nup acme 1 0188062765ff9e580003e8\nup acme 1 0167\nup acme 1 01fe00\nwait\n' |
    "$drv" "$bin" > "$tmp/lpp"
grep -qxF '1 acme up {"decoded_payload":{"temperature_3":27.2,"temperature_5":25.5}}' "$tmp/lpp" ||
    { cat "$tmp/lpp"; fail "lpp temperature"; }
grep -qxF '2 acme up {"decoded_payload":{"gps_1":{"altitude":10.0,"latitude":40.3301,"longitude":-2.5}}}' "$tmp/lpp" ||
    { cat "$tmp/lpp"; fail "lpp gps"; }
grep -qxF '3 acme up {"error":"output","message":"invalid output","namespace":"pkg/messageprocessors/cayennelpp"}' "$tmp/lpp" ||
    { cat "$tmp/lpp"; fail "lpp short"; }
grep -qxF '4 acme up {"error":"output","message":"invalid output","namespace":"pkg/messageprocessors/cayennelpp"}' "$tmp/lpp" ||
    { cat "$tmp/lpp"; fail "lpp unknown type"; }
printf 'lpp acme\ndown acme 1 {"value_1":1.5,"value_7":-2,"other_2":5,"value":3}\nwait\n' |
    "$drv" "$bin" > "$tmp/lppd"
grep -qxF '1 acme down {"bytes":[1,0,150,7,255,56],"f_port":0}' "$tmp/lppd" ||
    { cat "$tmp/lppd"; fail "lpp downlink"; }

# 3. A looping script: script_timeout (100 ms) for each call, while the other application's
#    30 calls are all answered before the looping application's second one (a new script
#    never shares a worker: fmt_pool.c).
{
    echo "ready 2"
    echo "script loop $fdir/loop.js"
    echo "script good $fdir/legacy.js"
    for _ in 1 2 3; do echo "up loop 1 00"; done
    for _ in $(seq 30); do echo "up good 1 09c401"; done
    echo wait
    echo stats
} > "$tmp/cmds"
"$drv" "$bin" 100 268435456 2 < "$tmp/cmds" > "$tmp/loop"
[ "$(grep -c ' loop up {"error":"script_timeout"' "$tmp/loop")" = 3 ] || { cat "$tmp/loop"; fail "loop: 3 timeouts"; }
[ "$(grep -c ' good up {"decoded_payload":{"led":true,"temperature":25}}' "$tmp/loop")" = 30 ] ||
    { cat "$tmp/loop"; fail "good: 30 results"; }
second_loop=$(grep -n ' loop up ' "$tmp/loop" | sed -n 2p | cut -d: -f1)
last_good=$(grep -n ' good up ' "$tmp/loop" | tail -1 | cut -d: -f1)
[ "$last_good" -lt "$second_loop" ] || { cat "$tmp/loop"; fail "good waited for loop"; }

# 4. A script that allocates without end: script_memory (limit 128 MiB, time 5 s), the worker
#    replaced, the other application answered before and after.
{
    echo "ready 2"
    echo "script alloc $fdir/alloc.js"
    echo "script good $fdir/legacy.js"
    echo "up good 1 09c401"
    echo "wait"
    echo "up alloc 1 00"
    echo "up good 1 09c401"
    echo "wait"
    echo "up alloc 1 00"
    echo "up good 1 09c401"
    echo wait
    echo stats
} > "$tmp/cmds"
"$drv" "$bin" 5000 134217728 2 < "$tmp/cmds" > "$tmp/mem"
[ "$(grep -c ' alloc up {"error":"script_memory","message":"script exceeded the memory limit of 134217728 bytes","namespace":"pkg/applicationserver/formatters"}' "$tmp/mem")" = 2 ] ||
    { cat "$tmp/mem"; fail "alloc: script_memory twice"; }
[ "$(grep -c ' good up {"decoded_payload":{"led":true,"temperature":25}}' "$tmp/mem")" = 3 ] ||
    { cat "$tmp/mem"; fail "good: 3 results"; }
grep -q 'memory_kills=2 ' "$tmp/mem" || { cat "$tmp/mem"; fail "two memory kills"; }

# 5. The Device Repository: vendor/<brand>/<model>.yaml -> codec -> <codec>.yaml -> script.
repo=$tmp/lorawan-devices
mkdir -p "$repo/vendor/acme-sensors"
cat > "$repo/vendor/acme-sensors/th-1.yaml" <<'YAML'
name: TH-1
firmwareVersions:
  - version: '1.0'
    hardwareVersions:
      - '1.0'
    profiles:
      EU863-870:
        id: th-1-profile
        codec: th-1-codec
YAML
cat > "$repo/vendor/acme-sensors/th-1-codec.yaml" <<'YAML'
uplinkDecoder:
  fileName: th-1.js
downlinkEncoder:
  fileName: th-1.js
YAML
cp "$fdir/legacy.js" "$repo/vendor/acme-sensors/th-1.js"
printf 'repo r acme-sensors th-1 1.0 EU_863_870\nup r 1 09c401\ndown r 1 {"led":true}\nwait\nup r 1 09c401\nrepo s acme-sensors th-1 2.0 EU_863_870\nup s 1 09c401\nrepo t ../etc th-1 1.0 EU_863_870\nup t 1 00\nwait\n' |
    "$drv" "$bin" 1000 268435456 2 "$repo" > "$tmp/repo"
grep -qxF '1 r up {"decoded_payload":{"led":true,"temperature":25}}' "$tmp/repo" || { cat "$tmp/repo"; fail "repo up"; }
grep -qxF '2 r down {"bytes":[1],"f_port":1}' "$tmp/repo" || { cat "$tmp/repo"; fail "repo down"; }
grep -qxF '3 r up {"decoded_payload":{"led":true,"temperature":25}}' "$tmp/repo" || { cat "$tmp/repo"; fail "repo up (cached)"; }
grep -q '^4 s up {"error":"repository_codec_not_found"' "$tmp/repo" || { cat "$tmp/repo"; fail "repo fw"; }
grep -q '^5 t up {"error":"no_version_identifiers"' "$tmp/repo" || { cat "$tmp/repo"; fail "repo traversal"; }
# 6. The worker's sandbox (seccomp, once JavaScriptCore is up): no sockets, no programs.
[ "$("$bin" formatter-worker --check-sandbox | tr '\n' ' ')" = "socket EPERM execve EPERM " ] ||
    fail "formatter-worker sandbox"
echo "PASS test_as_formatters"
