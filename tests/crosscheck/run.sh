#!/usr/bin/env bash
# Cross-checks components/lorawan against lora-packet 0.9.3, both ways:
#   1. lora-packet builds N random frames; lorawan-crosscheck decodes, MIC-verifies and
#      decrypts them and compares with the fields they were built from;
#   2. lorawan-crosscheck encodes N random frames; lora-packet decodes, MIC-verifies and
#      decrypts them.
# usage: tests/crosscheck/run.sh PATH/TO/lorawan-crosscheck [N] [SEED]
# Needs node and tests/crosscheck/node_modules (run `npm ci` in tests/crosscheck).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${1:?usage: run.sh PATH/TO/lorawan-crosscheck [N] [SEED]}
n=${2:-1500}
seed=${3:-${CROSSCHECK_SEED:-1}}

if ! command -v node >/dev/null 2>&1; then
    echo "lorawan crosscheck: node is not installed (ops/install installs it)" >&2
    exit 1
fi
if [ ! -f "$here/node_modules/lora-packet/package.json" ]; then
    echo "lorawan crosscheck: $here/node_modules/lora-packet is missing;" \
        "run 'npm ci' in tests/crosscheck first" >&2
    exit 1
fi
version=$(node -p "require('$here/node_modules/lora-packet/package.json').version")
if [ "$version" != "0.9.3" ]; then
    echo "lorawan crosscheck: lora-packet $version installed, 0.9.3 expected (npm ci)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== lora-packet encodes, components/lorawan decodes (seed $seed)"
node "$here/lorapacket.js" gen "$n" "$seed" "$tmp/lp.json"
"$bin" check "$tmp/lp.json"

echo "== components/lorawan encodes, lora-packet decodes (seed $seed)"
"$bin" gen "$n" "$seed" "$tmp/c.json"
node "$here/lorapacket.js" check "$tmp/c.json"
