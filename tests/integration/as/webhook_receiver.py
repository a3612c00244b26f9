#!/usr/bin/env python3
"""A webhook endpoint for the tests: records every request, in arrival order, as one JSON line
{"method", "path", "headers" (lowercase names), "body" (parsed JSON, or the text)} in --out,
and answers 200 {} -- or the status in the file --status-file names when it holds one
(e.g. "503"), so that a test can make the endpoint fail without stopping it. Stopping the
process makes it unreachable; starting it again on the same --port brings it back.

    webhook_receiver.py --port P --out FILE [--status-file F] [--ready FILE]
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--status-file")
    ap.add_argument("--ready")
    a = ap.parse_args()
    out = open(a.out, "a", buffering=1)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            status = 200
            if a.status_file and os.path.exists(a.status_file):
                try:
                    status = int(open(a.status_file).read().strip() or 200)
                except ValueError:
                    status = 200
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            rec = {"method": "POST", "path": self.path, "status": status,
                   "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            with lock:
                out.write(json.dumps(rec, sort_keys=True) + "\n")
            payload = b"{}" if status < 300 else b'{"error":"test"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
    srv.daemon_threads = True
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(a.ready + ".tmp", a.ready)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
