#!/usr/bin/python3
"""A Console events WebSocket client for the tests (python3-websockets, Debian's 10.x).

    ws_client.py URL TENANT [TOKEN]

Connects to URL (ws://.../api/v3/console/internal/events/) with the subprotocols
ttn.lorawan.v3.console.internal.events.v1 and ttn.lorawan.v3.header.authorization.bearer.TOKEN
(none without TOKEN) and X-Tenant-ID: TENANT. Prints "#protocol <chosen>" once connected,
then every message received as one line, and "#closed <code>" when the server closes;
"#status <http status>" when the handshake is refused. Every line read on stdin is sent as a
text message; at the end of stdin the connection stays open until the server closes it or
the process gets SIGTERM.
"""
import asyncio
import signal
import sys

import websockets

V1 = "ttn.lorawan.v3.console.internal.events.v1"


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main():
    url, tenant = sys.argv[1], sys.argv[2]
    protocols = [V1]
    if len(sys.argv) > 3:
        protocols.append("ttn.lorawan.v3.header.authorization.bearer." + sys.argv[3])
    try:
        ws = await websockets.connect(url, subprotocols=protocols,
                                      extra_headers={"X-Tenant-ID": tenant}, ping_interval=None)
    except websockets.exceptions.InvalidStatusCode as e:
        out("#status %d" % e.status_code)
        return
    out("#protocol %s" % ws.subprotocol)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def pump_in():
        while True:
            line = await reader.readline()
            if not line:
                return
            line = line.decode().strip()
            if line:
                await ws.send(line)

    async def pump_out():
        try:
            async for m in ws:
                out(m)
        except websockets.exceptions.ConnectionClosed:
            pass
        out("#closed %s" % ws.close_code)
        stop.set()

    tasks = [asyncio.ensure_future(pump_in()), asyncio.ensure_future(pump_out())]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await ws.close()


asyncio.run(main())
