#!/usr/bin/env bash
# `lwstack lorawan decode` (issue 3 item 6): the frame as JSON with its MIC checked and its
# payload decrypted; one clear message and exit 1 for bad input; no key ever printed.
# The frame and keys are lora-packet's documented example (DevAddr 49be7df1, FCnt 2,
# FPort 1, payload "test").
. "$(dirname "$0")/lib.sh"

frame=40F17DBE4900020001954378762B11FF0D
nwk=44024241ed4ce9a68c6a8bc055233fd3
app=ec925802ae430ca77fd3dd73cb2cc588

out=$("$LWSTACK_BIN" lorawan decode "$frame" --nwk-s-key "$nwk" --app-s-key "$app")
lw_t_eq "fields, MIC and payload" \
    '{"dev_addr":"49be7df1","fcnt":2,"fport":1,"frm_payload_decrypted_hex":"74657374","mic":"2b11ff0d","mic_valid":true,"mtype":"UnconfirmedDataUp"}' \
    "$(printf '%s' "$out" | jq -cS '{mtype, dev_addr, fcnt, fport, mic, mic_valid, frm_payload_decrypted_hex}')"
lw_t_eq "no key in the output" "" "$(printf '%s' "$out" | grep -iE "$nwk|$app" || true)"

out=$("$LWSTACK_BIN" lorawan decode "$frame" --nwk-s-key 00024241ed4ce9a68c6a8bc055233fd3)
lw_t_eq "a wrong key → mic_valid false" false "$(printf '%s' "$out" | jq .mic_valid)"

out=$("$LWSTACK_BIN" lorawan decode "$frame")
lw_t_eq "no keys → fields only, no MIC verdict" "UnconfirmedDataUp null" \
    "$(printf '%s' "$out" | jq -r '"\(.mtype) \(.mic_valid)"')"

set +e
err=$("$LWSTACK_BIN" lorawan decode 40F17D 2>&1 >/dev/null); rc=$?
lw_t_eq "truncated frame → exit 1" 1 "$rc"
lw_t_eq "truncated frame → one line naming the problem" 1 "$(printf '%s\n' "$err" | grep -c 'shorter than its type requires')"
err=$("$LWSTACK_BIN" lorawan decode zz 2>&1 >/dev/null); rc=$?
lw_t_eq "bad hex → exit 1 and a clear message" "1 yes" "$rc $(printf '%s' "$err" | grep -q 'not valid hex' && echo yes)"
err=$("$LWSTACK_BIN" lorawan decode "$frame" --nwk-s-key nothex 2>&1 >/dev/null); rc=$?
lw_t_eq "bad key → non-zero exit" yes "$([ "$rc" != 0 ] && echo yes)"
lw_t_eq "bad key is not echoed" "" "$(printf '%s' "$err" | grep nothex || true)"
set -e

lw_t_done
