#!/usr/bin/env bash
# The HTTP server over TLS (http.tls.certificate + http.tls.key) with a self-signed
# certificate made here: HTTPS answers, keep-alive, a large answer, plain HTTP refused on the
# TLS port, configuration errors, and a clean stop.
. "$(dirname "$0")/lib.sh"

lw_t_http_driver_find
D="$LW_T_DIR"
lw_t_ok_if() { if eval "$2"; then lw_t_ok "$1"; else lw_t_fail "$1"; fi; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/key.pem" -out "$D/cert.pem" -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1

lw_t_http_driver_start tls --http.listen 127.0.0.1:0 --http.tls.certificate "$D/cert.pem" \
    --http.tls.key "$D/key.pem"
B="https://127.0.0.1:$LW_T_HTTP_PORT"
C=(curl -s --cacert "$D/cert.pem")

lw_t_eq "HTTPS GET" '{"ok":true}' "$("${C[@]}" "$B/sync")"
lw_t_eq "HTTPS by name" '{"ok":true}' "$("${C[@]}" --resolve "localhost:$LW_T_HTTP_PORT:127.0.0.1" "https://localhost:$LW_T_HTTP_PORT/sync")"
lw_t_eq "HTTPS X-Total-Count" 42 "$("${C[@]}" -D - -o /dev/null "$B/list" | grep -i '^x-total-count:' | cut -d' ' -f2 | tr -d '\r')"
lw_t_eq "HTTPS POST JSON" '{"echo":{"k":"v"}}' "$("${C[@]}" -d '{"k":"v"}' "$B/echo")"
lw_t_eq "HTTPS X-Tenant-ID" acme "$("${C[@]}" -H 'X-Tenant-ID: acme' "$B/headers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["x-tenant-id"])')"
lw_t_eq "ALPN settles on HTTP/2" 2 "$("${C[@]}" --http2 -o /dev/null -w '%{http_version}' "$B/sync")"
lw_t_eq "HTTP/2 over TLS keeps X-Tenant-ID" acme "$("${C[@]}" --http2 -H 'X-Tenant-ID: acme' "$B/headers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["x-tenant-id"])')"
out=$("${C[@]}" -v "$B/sync" "$B/async?delay_ms=20" 2>&1)
lw_t_eq "HTTPS keep-alive" 1 "$(grep -c 'Re-using existing connection' <<<"$out")"
lw_t_eq "HTTPS 1 MB answer" 1000000 "$("${C[@]}" "$B/big?bytes=1000000" | wc -c | tr -d ' ')"
codes=$(seq 20 | xargs -P 20 -I{} "${C[@]}" -o /dev/null -w '%{http_code}\n' "$B/async?delay_ms=50" | sort | uniq -c | tr -s ' ')
lw_t_eq "20 parallel HTTPS clients" " 20 200" "$codes"
lw_t_eq "plain HTTP on the TLS port gets no answer" 000 \
    "$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LW_T_HTTP_PORT/sync" || true)"
lw_t_eq "untrusted certificate refused by the client" 60 \
    "$(curl -s -o /dev/null "$B/sync"; echo $?)"

kill -TERM "$LW_T_HTTP_PID"; rc=0; wait "$LW_T_HTTP_PID" || rc=$?
lw_t_eq "TLS server stops cleanly" 0 "$rc"
lw_t_ok_if "no sanitizer report" '! grep -q "Sanitizer" "$D/tls.log"'

# Configuration errors.
rc=0; "$LW_HTTP_DRIVER" --http.listen 127.0.0.1:0 --http.tls.certificate "$D/cert.pem" >"$D/half.log" 2>&1 || rc=$?
lw_t_eq "certificate without key: exit 1" 1 "$rc"
lw_t_ok_if "certificate without key: message" 'grep -q "config_invalid: http.tls.certificate and http.tls.key must be set together" "$D/half.log"'
rc=0; "$LW_HTTP_DRIVER" --http.listen 127.0.0.1:0 --http.tls.certificate "$D/missing.pem" \
    --http.tls.key "$D/key.pem" >"$D/missing.log" 2>&1 || rc=$?
lw_t_eq "missing certificate file: exit 1" 1 "$rc"
lw_t_ok_if "missing certificate file: message" 'grep -q "config_invalid: cannot set up the HTTP listener with http.tls.certificate and http.tls.key" "$D/missing.log"'
lw_t_ok_if "missing certificate file: no sanitizer report" '! grep -q "Sanitizer" "$D/missing.log"'
rc=0; "$LW_HTTP_DRIVER" --http.listen "localhost:99999" >"$D/badlisten.log" 2>&1 || rc=$?
lw_t_eq "invalid http.listen: exit 2" 2 "$rc"
lw_t_ok_if "invalid http.listen: names the key" 'grep -q "http.listen" "$D/badlisten.log"'

lw_t_done
