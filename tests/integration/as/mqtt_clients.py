#!/usr/bin/env python3
"""MQTT clients for tests/integration/test_as_mqtt*.sh: Eclipse Paho (python3-paho-mqtt,
1.6; over TLS when MQTT_CA names the server's CA) for what a client library sees, and raw sockets for what no library sends (silence,
malformed bytes, a subscriber that never reads). Each command prints one result line.

  connect PORT VERSION USER PASS [will]        -> "rc N" (3.1.1 return code / 5.0 reason)
  subscribe PORT VERSION USER PASS FILTER:QOS.. -> "granted C1 C2 ..." (0x80/reason codes)
  receive PORT VERSION USER PASS FILTER QOS N SECONDS [CLIENT_ID persistent]
                                               -> "got K", then each "TOPIC PAYLOAD"
  silent PORT USER PASS KEEPALIVE SECONDS     -> "closed" when the server closes, else "open"
  slow PORT USER PASS FILTER SECONDS          -> subscribes, never reads; "closed" / "open"
  malformed PORT USER PASS HEX                -> after CONNACK sends HEX; "closed" / "open"
"""
import binascii
import os
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def client(version, client_id="", clean=True):
    if version == "5":
        c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    else:
        c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311)
    # MQTT_CA=<PEM>: over TLS, the server's certificate checked against it.
    if os.environ.get("MQTT_CA"):
        c.tls_set(ca_certs=os.environ["MQTT_CA"])
    return c


def rc_value(rc):
    return rc.value if hasattr(rc, "value") else int(rc)


def do_connect(port, version, user, pw, will=False, client_id="", persistent=False):
    c = client(version, client_id, clean=not persistent)
    c.username_pw_set(user, pw)
    if will:
        c.will_set("v3/x/will", b"bye")
    done = threading.Event()
    res = {}

    def on_connect(cl, ud, flags, rc, props=None):
        res["rc"] = rc_value(rc)
        res["present"] = flags.get("session present", 0)
        done.set()

    def on_disconnect(cl, ud, rc, props=None):
        res.setdefault("rc", rc_value(rc))
        done.set()

    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    kw = {}
    if version == "5":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if persistent else 0
        kw = {"clean_start": not persistent, "properties": props}
    c.connect("127.0.0.1", port, keepalive=30, **kw)
    c.loop_start()
    done.wait(5)
    return c, res


def cmd_connect(port, version, user, pw, *rest):
    c, res = do_connect(port, version, user, pw, will=("will" in rest))
    print("rc %s" % res.get("rc", "none"))
    c.loop_stop()
    c.disconnect()


def cmd_subscribe(port, version, user, pw, *filters):
    c, res = do_connect(port, version, user, pw)
    if res.get("rc") != 0:
        print("rc %s" % res.get("rc"))
        return
    done = threading.Event()
    got = {}

    def on_subscribe(cl, ud, mid, granted, props=None):
        got["codes"] = [rc_value(g) if hasattr(g, "value") else g for g in granted]
        done.set()

    c.on_subscribe = on_subscribe
    subs = [(f.rsplit(":", 1)[0], int(f.rsplit(":", 1)[1])) for f in filters]
    c.subscribe(subs)
    done.wait(5)
    print("granted " + " ".join("0x%02x" % x for x in got.get("codes", [])))
    c.disconnect()
    c.loop_stop()


def cmd_receive(port, version, user, pw, filt, qos, n, secs, client_id="", persistent=""):
    n, secs = int(n), float(secs)
    msgs = []
    full = threading.Event()

    def on_message(cl, ud, m):
        msgs.append("%s %s" % (m.topic, m.payload.decode()))
        if len(msgs) >= n:
            full.set()

    c = client(version, client_id, clean=persistent != "persistent")
    c.on_message = on_message
    c.username_pw_set(user, pw)
    ready = threading.Event()

    def on_connect(cl, ud, flags, rc, props=None):
        cl.subscribe(filt, int(qos))

    def on_subscribe(cl, ud, mid, granted, props=None):
        ready.set()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    kw = {}
    if version == "5":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if persistent == "persistent" else 0
        kw = {"clean_start": persistent != "persistent", "properties": props}
    c.connect("127.0.0.1", int(port), keepalive=30, **kw)
    c.loop_start()
    ready.wait(5)
    print("subscribed", flush=True)
    full.wait(secs)
    c.disconnect()
    c.loop_stop()
    print("got %d" % len(msgs))
    for m in msgs:
        print(m)


def raw_connect(port, user, pw, keepalive=30, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", int(port)))
    u, p, cid = user.encode(), pw.encode(), b"raw"
    body = (b"\x00\x04MQTT\x04\xc2" + int(keepalive).to_bytes(2, "big") +
            len(cid).to_bytes(2, "big") + cid + len(u).to_bytes(2, "big") + u +
            len(p).to_bytes(2, "big") + p)
    s.sendall(bytes([0x10, len(body)]) + body)
    ack = s.recv(4)
    if ack != b"\x20\x02\x00\x00":
        raise SystemExit("connack %s" % ack.hex())
    return s


def wait_closed(s, secs, drain=True):
    s.settimeout(0.2)
    end = time.time() + secs
    while time.time() < end:
        try:
            d = s.recv(65536) if drain else None
            if drain and not d:
                return "closed"
            if not drain:
                time.sleep(0.2)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
    return "open"


def cmd_silent(port, user, pw, keepalive, secs):
    s = raw_connect(port, user, pw, keepalive=int(keepalive))
    print(wait_closed(s, float(secs)))


def cmd_slow(port, user, pw, filt, secs):
    s = raw_connect(port, user, pw, rcvbuf=4096)
    f = filt.encode()
    body = b"\x00\x01" + len(f).to_bytes(2, "big") + f + b"\x00"
    s.sendall(bytes([0x82, len(body)]) + body)
    print("subscribed", flush=True)
    # Never reads until the end: then drains to see whether the server closed.
    time.sleep(float(secs))
    s.settimeout(2)
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                print("closed")
                return
    except socket.timeout:
        print("open")
    except ConnectionResetError:
        print("closed")


def cmd_malformed(port, user, pw, hexbytes):
    s = raw_connect(port, user, pw)
    s.sendall(binascii.unhexlify(hexbytes))
    print(wait_closed(s, 3))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    port = int(args[0])
    fn = {"connect": cmd_connect, "subscribe": cmd_subscribe, "receive": cmd_receive,
          "silent": cmd_silent, "slow": cmd_slow, "malformed": cmd_malformed}[cmd]
    fn(port, *args[1:])


if __name__ == "__main__":
    main()
