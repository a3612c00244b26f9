#!/usr/bin/env python3
"""A simulated LoRa Basics Station for tests/integration/test_gs_bs.sh.

A WebSocket client on the standard library (socket, ssl; RFC 6455 framing written here, ~100
lines) rather than a package: nothing to install, and the test sees what a real station's
LNS sees and what a packaged client hides (the HTTP status of a refused upgrade, close codes,
pings), with the exact upgrade headers basic-station.md §1 recorded.

    bs_station.py router-info URL EUI_TEXT [--auth VALUE] [--cafile PEM]
        GET URL (…/router-info), sends {"router": EUI_TEXT} (EUI_TEXT is sent as JSON: quote
        strings yourself, e.g. '"::a01"'), prints the answer on one line, or
        "http STATUS BODY" when the upgrade is refused.

    bs_station.py traffic URL [--auth VALUE] [--cafile PEM] [--out FILE] [--no-dntxed]
                              [--radio]
        Opens the traffic socket, sends `version` as station 2.0.6 does, then sends each line
        of stdin as a text message. Every message received is written to FILE (default
        stdout) as "recv <json>"; a refused upgrade as "http STATUS BODY"; the end as
        "closed CODE". Pings are answered. For each dnmsg a dntxed comes back as the station
        sends it when TX starts (diid, DevEui, the window used, xtime + RxDelay s), unless
        --no-dntxed.

        A stdin line "up PHYHEX DR FREQ [RSSI SNR]" is a frame heard by the radio: it goes out
        as the station parses it (basic-station.md §4: jreq for a 23-byte join-request, updf
        for a data frame, propdf otherwise; DevAddr and MIC as signed 32-bit integers of the
        wire bytes, EUIs in dash form, upper-case hex), with upinfo from the station's clock
        (xtime: a non-zero radio session byte in bits 48..55 over a µs counter; rxtime: UTC)
        and RefTime = the router_config's MuxTime plus the time since; the message is also
        written to FILE as "sent <json>".

        --radio: the dnmsg are handled as the station's radio does, on its clock: the TX
        starts at xtime + RxDelay s (RX1) or one second later (RX2, when only RX2 is given or
        RX1 cannot be made any more: less than 20 ms ahead); class C (dC 2) at once. The
        dntxed goes out when the TX starts, with the xtime of that moment; a dnmsg neither
        window can make is dropped without an answer. Each dnmsg's plan is written as
        "txplan {diid, window: rx1|rx2|now|none, lead_us}" (lead_us: TX start minus the
        station's clock when the dnmsg arrived).
"""
import argparse
import base64
import json
import os
import select
import socket
import ssl
import struct
import sys
import time
import urllib.parse

KEY = "bpse8nVmEl6ZlX4lSb6RMw=="  # the station's constant Sec-WebSocket-Key (§1)


class Refused(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status, self.body = status, body


def connect(url, auth, cafile):
    u = urllib.parse.urlsplit(url)
    port = u.port or (443 if u.scheme == "wss" else 80)
    sock = socket.create_connection((u.hostname, port), timeout=10)
    if u.scheme == "wss":
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = False
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    head = (f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n")
    if auth:
        head += f"Authorization: {auth}\r\n"
    sock.sendall((head + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise Refused(0, "connection closed")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    if status != 101:
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        while len(rest) < length:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
        raise Refused(status, rest.decode("utf-8", "replace").replace("\n", " "))
    return Conn(sock, rest)


class Conn:
    def __init__(self, sock, pending):
        self.sock, self.buf = sock, pending

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def send_text(self, text):
        self.send(0x1, text.encode())

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def pending(self):
        return len(self.buf) > 0 or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending())

    def recv(self):
        """One frame: (opcode, payload). Servers do not mask; fragments are not expected."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload


def router_info(args):
    try:
        c = connect(args.url, args.auth, args.cafile)
    except Refused as r:
        print(f"http {r.status} {r.body}")
        return 0
    c.send_text('{"router": %s}' % args.eui)
    while True:
        try:
            op, payload = c.recv()
        except EOFError:
            print("closed 1006")
            return 0
        if op == 0x1:
            print(payload.decode())
            return 0
        if op == 0x8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            print(f"closed {code}")
            return 0


def dntxed_for(dn):
    rx1 = "RX1DR" in dn
    delay = dn.get("RxDelay", 1) + (0 if rx1 else 1)
    return {"msgtype": "dntxed", "seqno": dn["diid"], "diid": dn["diid"],
            "DR": dn["RX1DR"] if rx1 else dn.get("RX2DR"),
            "Freq": dn["RX1Freq"] if rx1 else dn.get("RX2Freq"),
            "DevEui": dn["DevEui"], "rctx": dn.get("rctx", 0),
            "xtime": dn.get("xtime", 0) + delay * 1000000, "txtime": 690.256944, "gpstime": 0}


class Radio:
    """The station's clock and what its radio hears and sends (--radio, "up" lines)."""

    LEAD_MIN_US = 20000  # the station hands a frame to the radio about 20 ms before TX (§5)

    def __init__(self):
        self.t0 = time.monotonic_ns() // 1000
        self.session = (os.getpid() % 254 + 1) << 48  # bits 48..55, non-zero
        self.mux_time = None  # (MuxTime, local monotonic s at reception)
        self.timers = []  # (due monotonic s, message)

    def xtime(self):
        return self.session | ((time.monotonic_ns() // 1000 - self.t0 + 1000000) & (2**48 - 1))

    def ref_time(self):
        if self.mux_time is None:
            return 0.0
        return self.mux_time[0] + (time.monotonic() - self.mux_time[1])

    @staticmethod
    def s32(b):
        return struct.unpack("<i", b)[0]

    @staticmethod
    def eui(b):
        return "-".join("%02X" % x for x in reversed(b))

    def uplink(self, phy, dr, freq, rssi=-50, snr=9.0):
        mhdr = phy[0]
        if (mhdr >> 5) == 0 and len(phy) == 23:
            m = {"msgtype": "jreq", "MHdr": mhdr, "JoinEui": self.eui(phy[1:9]),
                 "DevEui": self.eui(phy[9:17]), "DevNonce": struct.unpack("<H", phy[17:19])[0],
                 "MIC": self.s32(phy[19:23])}
        elif (mhdr >> 5) in (2, 4) and len(phy) >= 12:
            nfo = phy[5] & 0x0F
            body = phy[8 + nfo:-4]
            m = {"msgtype": "updf", "MHdr": mhdr, "DevAddr": self.s32(phy[1:5]), "FCtrl": phy[5],
                 "FCnt": struct.unpack("<H", phy[6:8])[0], "FOpts": phy[8:8 + nfo].hex().upper(),
                 "FPort": body[0] if body else -1, "FRMPayload": body[1:].hex().upper(),
                 "MIC": self.s32(phy[-4:])}
        else:
            m = {"msgtype": "propdf", "FRMPayload": phy.hex().upper()}
        m.update({"RefTime": self.ref_time(), "DR": dr, "Freq": freq,
                  "upinfo": {"rctx": 0, "xtime": self.xtime(), "gpstime": 0, "fts": -1,
                             "rssi": int(rssi), "snr": snr, "rxtime": time.time()}})
        return m

    def plan(self, dn):
        """(window, lead_us, tx start xtime) of a dnmsg, as the station would send it."""
        now = self.xtime()
        if dn.get("dC", 0) == 2 or "xtime" not in dn:
            return "now", 0, now
        rx1 = dn["xtime"] + max(dn.get("RxDelay", 1), 1) * 1000000
        if "RX1DR" in dn and "RX1Freq" in dn and rx1 - now >= self.LEAD_MIN_US:
            return "rx1", rx1 - now, rx1
        if "RX2DR" in dn and "RX2Freq" in dn and rx1 + 1000000 - now >= self.LEAD_MIN_US:
            return "rx2", rx1 + 1000000 - now, rx1 + 1000000
        return "none", (rx1 - now), None

    def dntxed(self, dn, window):
        rx1 = window == "rx1"
        return {"msgtype": "dntxed", "seqno": dn["diid"], "diid": dn["diid"],
                "DR": dn["RX1DR"] if rx1 else dn.get("RX2DR"),
                "Freq": dn["RX1Freq"] if rx1 else dn.get("RX2Freq"),
                "DevEui": dn["DevEui"], "rctx": dn.get("rctx", 0), "xtime": self.xtime(),
                "txtime": time.time(), "gpstime": 0}


def traffic(args):
    out = open(args.out, "a", buffering=1) if args.out else sys.stdout
    try:
        c = connect(args.url, args.auth, args.cafile)
    except Refused as r:
        out.write(f"http {r.status} {r.body}\n")
        return 0
    c.send_text(json.dumps({"msgtype": "version", "station": "2.0.6(linux/testsim)",
                            "firmware": None, "package": None, "model": "linux",
                            "protocol": 2, "features": "rmtsh"}))
    c.sock.settimeout(None)
    radio = Radio()
    stdin_open, pending = True, b""
    fd = sys.stdin.fileno()
    while True:
        now = time.monotonic()
        while radio.timers and radio.timers[0][0] <= now:
            _, dn, window = radio.timers.pop(0)
            c.send_text(json.dumps(radio.dntxed(dn, window)))
        timeout = max(radio.timers[0][0] - now, 0) if radio.timers else None
        # Raw reads of stdin: a buffered reader would keep lines select() cannot see.
        ready = [c.sock] if c.pending() else \
            select.select([c.sock] + ([fd] if stdin_open else []), [], [], timeout)[0]
        if not ready:
            continue
        if fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                stdin_open = False
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                line = line.strip().decode()
                if line.startswith("up "):
                    f = line.split()
                    m = radio.uplink(bytes.fromhex(f[1]), int(f[2]), int(f[3]),
                                     *(float(x) for x in f[4:6]))
                    text = json.dumps(m)
                    out.write(f"sent {text}\n")
                    c.send_text(text)
                elif line:
                    c.send_text(line)
            continue
        try:
            op, payload = c.recv()
        except (EOFError, ConnectionError, ssl.SSLError):
            out.write("closed 1006\n")
            return 0
        if op == 0x9:
            c.send(0xA, payload)
            out.write("ping\n")
        elif op == 0x8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            out.write(f"closed {code}\n")
            return 0
        elif op == 0x1:
            text = payload.decode()
            out.write(f"recv {text}\n")
            msg = json.loads(text)
            if msg.get("msgtype") == "router_config" and msg.get("MuxTime"):
                radio.mux_time = (msg["MuxTime"], time.monotonic())
            if msg.get("msgtype") == "dnmsg" and args.radio:
                window, lead, _ = radio.plan(msg)
                out.write("txplan " + json.dumps({"diid": msg.get("diid"), "window": window,
                                                  "lead_us": lead}) + "\n")
                if window != "none" and not args.no_dntxed:
                    radio.timers.append((time.monotonic() + lead / 1e6, msg, window))
                    radio.timers.sort(key=lambda t: t[0])
            elif msg.get("msgtype") == "dnmsg" and not args.no_dntxed:
                c.send_text(json.dumps(dntxed_for(msg)))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("router-info", "traffic"):
        s = sub.add_parser(name)
        s.add_argument("url")
        if name == "router-info":
            s.add_argument("eui")
        s.add_argument("--auth")
        s.add_argument("--cafile")
        if name == "traffic":
            s.add_argument("--out")
            s.add_argument("--no-dntxed", action="store_true")
            s.add_argument("--radio", action="store_true")
    args = p.parse_args()
    return router_info(args) if args.cmd == "router-info" else traffic(args)


if __name__ == "__main__":
    sys.exit(main())
