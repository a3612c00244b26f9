#!/usr/bin/env bash
# The HTTP server (cluster/http.c) through its test driver (tests/integration/http): routes,
# captures, query arguments, headers, TTS error shapes, 404/405, body caps, keep-alive,
# pipelining, concurrency, clients leaving before an async answer, metrics, and a clean
# stop that lets the loop end (the driver exits 0 only then; under ASan, also leak-free).
. "$(dirname "$0")/lib.sh"

lw_t_http_driver_find

D="$LW_T_DIR"
lw_t_http_driver_start main --http.listen 127.0.0.1:0 --http.max-body-bytes 1000
B="http://127.0.0.1:$LW_T_HTTP_PORT"

# body / status / header helpers
get() { curl -s -o "$D/body" -D "$D/head" -w '%{http_code}' "$@"; }
hdr() { grep -i "^$1:" "$D/head" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
jq_() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$D/body" "$1"; }

lw_t_eq "GET /sync status" 200 "$(get "$B/sync")"
lw_t_eq "GET /sync body" '{"ok":true}' "$(cat "$D/body")"
lw_t_eq "GET /sync content-type" "application/json" "$(hdr content-type)"
lw_t_eq "GET /sync content-length" 11 "$(hdr content-length)"
lw_t_eq "expose headers" "X-Total-Count" "$(hdr access-control-expose-headers)"

lw_t_eq "async answer status" 200 "$(get "$B/async?delay_ms=150")"
lw_t_eq "async answer body" '{"async":true,"delay_ms":150}' "$(cat "$D/body")"

lw_t_eq "route captures" '{"thing_id":"abc","part_id":"p q"}' \
    "$(curl -s "$B/things/abc/parts/p%20q")"
lw_t_eq "literal segment beats capture" '{"literal":true}' "$(curl -s "$B/things/new")"
lw_t_eq "one capture" '{"thing_id":"x-1","part_id":null}' "$(curl -s "$B/things/x-1" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d.setdefault("part_id",None); print(json.dumps(d,separators=(",",":")))')"

lw_t_eq "query args decoded" '{"a":"1 2","b":"x&y=z","empty":"","missing":null}' \
    "$(curl -s "$B/query?a=1+2&b=x%26y%3Dz&empty&&zz=1")"

lw_t_eq "X-Total-Count status" 200 "$(get "$B/list")"
lw_t_eq "X-Total-Count header" 42 "$(hdr x-total-count)"

get -H 'X-Tenant-ID: acme' -H 'X-Custom: yo' -H 'Authorization: Bearer NNSXS.A.B' \
    -H 'Content-Type: application/json' -H 'Host: Acme.Example.COM:1885' "$B/headers" >/dev/null
lw_t_eq "host lowercased without port" acme.example.com "$(jq_ 'd["host"]')"
lw_t_eq "x-tenant-id" acme "$(jq_ 'd["x-tenant-id"]')"
lw_t_eq "authorization" "Bearer NNSXS.A.B" "$(jq_ 'd["authorization"]')"
lw_t_eq "content-type" application/json "$(jq_ 'd["content-type"]')"
lw_t_eq "arbitrary header" yo "$(jq_ 'd["x-custom"]')"

# HTTP/2 (cleartext, prior knowledge): every header reaches the handler (libwebsockets
# dropped unknown ones such as X-Tenant-ID over HTTP/2).
out=$(curl -s --http2-prior-knowledge -o "$D/body" -w '%{http_version}' -H 'X-Tenant-ID: acme' "$B/headers")
lw_t_eq "HTTP/2 prior knowledge" 2 "$out"
lw_t_eq "HTTP/2 X-Tenant-ID" acme "$(jq_ 'd["x-tenant-id"]')"
lw_t_eq "HTTP/2 POST JSON" '{"echo":{"h":2}}' "$(curl -s --http2-prior-knowledge -d '{"h":2}' "$B/echo")"

# Errors in The Things Stack's shape.
lw_t_eq "404 status" 404 "$(get "$B/nothing/here")"
lw_t_eq "404 code" 5 "$(jq_ 'd["code"]')"
lw_t_eq "404 message" "error:pkg/web:not_found (no route for GET /nothing/here)" "$(jq_ 'd["message"]')"
lw_t_eq "404 detail" "type.googleapis.com/ttn.lorawan.v3.ErrorDetails pkg/web not_found route not found 5" \
    "$(jq_ '" ".join(str(d["details"][0][k]) for k in ("@type","namespace","name","message_format","code"))')"
lw_t_ok_if() { if eval "$2"; then lw_t_ok "$1"; else lw_t_fail "$1"; fi; }
lw_t_ok_if "404 correlation id" '[[ "$(jq_ "d[\"details\"][0][\"correlation_id\"]")" =~ ^http:[0-9a-f]{32}$ ]]'
lw_t_eq "405 status" 405 "$(get -X DELETE "$B/sync")"
lw_t_eq "405 name" "method_not_allowed 12" "$(jq_ 'd["details"][0]["name"] + " " + str(d["code"])')"
lw_t_eq "trailing slash is 404" 404 "$(get "$B/sync/")"
lw_t_eq "HEAD uses the GET route" 200 "$(curl -s -I -o /dev/null -w '%{http_code}' "$B/sync")"
lw_t_eq "409 from a handler" 409 "$(get "$B/error")"
lw_t_eq "409 body" '{"code": 6, "message": "error:pkg/db:db_unique_violation (thing `t1` already exists)", "details": [{"@type": "type.googleapis.com/ttn.lorawan.v3.ErrorDetails", "namespace": "pkg/db", "name": "db_unique_violation", "message_format": "already exists", "attributes": {"thing_id": "t1", "count": 2}, "code": 6}]}' \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["details"][0].pop("correlation_id"); print(json.dumps(d, ensure_ascii=False))' "$D/body")"

# JSON bodies.
lw_t_eq "echo JSON" '{"echo":{"a":[1,2],"s":"é"}}' \
    "$(curl -s -H 'Content-Type: application/json' -d '{"a":[1,2],"s":"é"}' "$B/echo")"
lw_t_eq "empty body is {}" '{"echo":{}}' "$(curl -s -X POST "$B/echo")"
lw_t_eq "bad JSON status" 400 "$(get -d '{"a":' "$B/echo")"
lw_t_eq "bad JSON name" invalid_json "$(jq_ 'd["details"][0]["name"]')"
lw_t_eq "bad JSON position" "1 5" "$(jq_ 'str(d["details"][0]["attributes"]["line"]) + " " + str(d["details"][0]["attributes"]["column"])')"
lw_t_eq "JSON array is not an object" 400 "$(get -d '[1]' "$B/echo")"
lw_t_eq "duplicate keys rejected" 400 "$(get -d '{"a":1,"a":2}' "$B/echo")"

out=$(curl -s -v -H 'Expect: 100-continue' -d '{"e":1}' "$B/echo" 2>&1)
lw_t_ok_if "Expect: 100-continue answered" 'grep -q "^< HTTP/1.1 100 Continue" <<<"$out"'
lw_t_eq "body after 100 Continue" '{"echo":{"e":1}}' "$(tail -n 1 <<<"$out" | grep -o '{"echo".*')"

# Body cap (1000 bytes here): announced too large → 413 at once, connection closed.
head -c 1000 /dev/zero | tr '\0' ' ' >"$D/ok.json"; printf '{}' >>"$D/ok.json"
head -c 998 /dev/zero | tr '\0' ' ' >"$D/exact.json"; printf '{}' >>"$D/exact.json"
lw_t_eq "body at the cap accepted" 200 "$(get --data-binary @"$D/exact.json" "$B/echo")"
lw_t_eq "body over the cap" 413 "$(get --data-binary @"$D/ok.json" "$B/echo")"
lw_t_eq "413 name" "request_too_large 1000" "$(jq_ 'd["details"][0]["name"] + " " + str(d["details"][0]["attributes"]["limit"])')"
lw_t_eq "413 closes the connection" close "$(hdr connection)"
lw_t_eq "server fine after 413" 200 "$(get "$B/sync")"
# A client that sends its whole body at once (no Expect: 100-continue) still reads the 413:
# the server drops the body before closing instead of resetting the connection.
head -c 3000000 /dev/zero >"$D/big.bin"
lw_t_eq "3 MB body without Expect" 413 "$(get -H 'Expect:' --data-binary @"$D/big.bin" "$B/echo")"
lw_t_eq "3 MB body with Expect" 413 "$(get --data-binary @"$D/big.bin" "$B/echo")"
lw_t_eq "chunked body" '200 {"echo":{"a":1}}' \
    "$(get -H 'Transfer-Encoding: chunked' -d '{"a":1}' "$B/echo") $(cat "$D/body")"

# Keep-alive: several requests on one connection.
out=$(curl -s -v "$B/sync" "$B/list" "$B/things/a/parts/b" 2>&1)
lw_t_eq "keep-alive reuses the connection" 2 "$(grep -c 'Re-using existing connection' <<<"$out")"
lw_t_eq "keep-alive answers" '{"ok":true}{"items":[]}{"thing_id":"a","part_id":"b"}' \
    "$(curl -s "$B/sync" "$B/list" "$B/things/a/parts/b")"

# HTTP/1.1 pipelining: three requests in one write (one answered later from a timer), three
# answers in order.
pipe() {
    python3 - "$LW_T_HTTP_PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().replace(b"|", b"\r\n"))
s.settimeout(5)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    print("timeout")
print(data.count(b"HTTP/1.1 200 OK"), b"|".join(x.split(b"HTTP/1.1")[0] for x in data.split(b"\r\n") if x.startswith(b"{")).decode())
PY
}
lw_t_eq "pipelined requests" '3 {"ok":true}|{"async":true,"delay_ms":30}|{"thing_id":"a","part_id":"b"}' \
    "$(pipe 'GET /sync HTTP/1.1|Host: x||GET /async?delay_ms=30 HTTP/1.1|Host: x||GET /things/a/parts/b HTTP/1.1|Host: x|Connection: close||')"
lw_t_eq "pipelined after a body" '2 {"echo":{"n":1}}|{"ok":true}' \
    "$(pipe 'POST /echo HTTP/1.1|Host: x|Content-Length: 7||{"n":1}GET /sync HTTP/1.1|Host: x|Connection: close||')"
# A body behind another request in the same write (libwebsockets 4.1 handed over the
# request's own head as its body, then spun at 100% CPU).
lw_t_eq "pipelined body after a request" '2 {"ok":true}|{"echo":{"n":1}}' \
    "$(pipe 'GET /sync HTTP/1.1|Host: x||POST /echo HTTP/1.1|Host: x|Content-Length: 7|Connection: close||{"n":1}')"
lw_t_eq "alive after a pipelined body" 200 "$(get -m 2 "$B/sync")"

# 50 concurrent clients on async answers.
codes=$(seq 50 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$B/async?delay_ms=100" | sort | uniq -c | tr -s ' ')
lw_t_eq "50 parallel clients" " 50 200" "$codes"

# Clients that leave before the async answer: the answer is dropped, nothing crashes.
for i in 1 2 3 4 5; do curl -s -m 0.1 "$B/async?delay_ms=400" >/dev/null || true; done
sleep 0.6
lw_t_eq "alive after clients left" 200 "$(get "$B/sync")"

# A body that stops half-way: the connection is closed by the client mid-body.
python3 - "$LW_T_HTTP_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"a\":")
s.close()
PY
lw_t_eq "alive after a truncated body" 200 "$(get "$B/sync")"

# Large answers are written in pieces.
lw_t_eq "3 MB answer" 3000000 "$(curl -s "$B/big?bytes=3000000" | wc -c | tr -d ' ')"

# Metrics: route patterns, not raw paths.
metrics=$(curl -s "$B/metrics")
lw_t_ok_if "metric by route pattern" 'grep -q "^lwstack_http_requests_total{route=\"/things/{thing_id}/parts/{part_id}\",method=\"GET\",status=\"200\"} [0-9]" <<<"$metrics"'
lw_t_ok_if "metric for 404" 'grep -q "^lwstack_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 2$" <<<"$metrics"'
lw_t_ok_if "metric for 413" 'grep -q "^lwstack_http_requests_total{route=\"unmatched\",method=\"POST\",status=\"413\"} 3$" <<<"$metrics"'
lw_t_ok_if "duration summary by route" 'grep -q "^lwstack_http_request_duration_seconds_count{route=\"/async\",method=\"GET\"} [0-9]" <<<"$metrics" && grep -q "^lwstack_http_request_duration_seconds_sum{route=\"/async\",method=\"GET\"} [0-9.e+-]*$" <<<"$metrics"'
lw_t_eq "metrics content type" "text/plain; version=0.0.4" "$(curl -s -o /dev/null -w '%{content_type}' "$B/metrics")"

# Stop while a client holds an idle keep-alive connection and an async answer is pending:
# the loop must still end, and the driver exit 0 (ASan: no leak, no use after free).
python3 - "$LW_T_HTTP_PORT" >"$D/idle.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /sync HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(4096)
time.sleep(3)
PY
idle_pid=$!
curl -s -m 3 "$B/async?delay_ms=300" >/dev/null &
curl_pid=$!
sleep 0.3
lw_t_eq "POST /stop" 202 "$(get -X POST "$B/stop")"
rc=0; timeout 10 tail --pid="$LW_T_HTTP_PID" -f /dev/null || rc=$?
lw_t_eq "driver ended within 10 s" 0 "$rc"
wait "$LW_T_HTTP_PID"; rc=$?
lw_t_eq "driver exit status (loop ended by itself)" 0 "$rc"
lw_t_ok_if "no sanitizer report" '! grep -q "Sanitizer" "$D/main.log"'
wait "$idle_pid" "$curl_pid" 2>/dev/null || true

# http.request-timeout: a handler slower than it, or a body that stops coming, costs the
# connection; the late answer is dropped.
lw_t_http_driver_start slow --http.listen 127.0.0.1:0 --http.request-timeout 1s
S="http://127.0.0.1:$LW_T_HTTP_PORT"
t0=$(date +%s%N)
rc=0; curl -s -m 8 "$S/async?delay_ms=4000" >/dev/null || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
lw_t_eq "slow handler: connection closed without an answer" 52 "$rc"
lw_t_ok_if "slow handler: closed after about 1 s ($ms ms)" '[ "$ms" -ge 900 ] && [ "$ms" -lt 3500 ]'
stalled=$(python3 - "$LW_T_HTTP_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
s.settimeout(5)
t0 = time.time()
data = s.recv(4096)
print("closed" if data == b"" and time.time() - t0 < 4.5 else "answered")
PY
)
lw_t_eq "stalled body: connection closed after the timeout" "closed" "$stalled"
sleep 3.2 # the slow handler answers into the void now
lw_t_eq "alive after timeouts" 200 "$(get "$S/sync")"
kill -TERM "$LW_T_HTTP_PID"; rc=0; wait "$LW_T_HTTP_PID" || rc=$?
lw_t_eq "timeouts: clean exit" 0 "$rc"
lw_t_ok_if "timeouts: no sanitizer report" '! grep -q "Sanitizer" "$D/slow.log"'

# A busy port is an error at start, with nothing left on the loop.
lw_t_http_driver_start holder --http.listen 127.0.0.1:0
busy=$LW_T_HTTP_PORT
rc=0; "$LW_HTTP_DRIVER" --http.listen "127.0.0.1:$busy" >"$D/busy.log" 2>&1 || rc=$?
lw_t_eq "busy port: exit 1" 1 "$rc"
lw_t_ok_if "busy port: message" 'grep -q "unavailable: cannot listen on 127.0.0.1:$busy: Address already in use" "$D/busy.log"'
kill -TERM "$LW_T_HTTP_PID"; rc=0; wait "$LW_T_HTTP_PID" || rc=$?
lw_t_eq "SIGTERM: exit 0" 0 "$rc"

lw_t_done
