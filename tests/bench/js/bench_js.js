#!/usr/bin/env node
// Joins per second through the Join Server's Backend Interfaces listener: C keep-alive
// connections, each driving its own devices (LoRaWAN 1.0.4, DevNonce counting up) with
// JoinReq after JoinReq for S seconds; join-requests are built (MIC by lora-packet) before
// the clock starts. Prints joins/s and latency percentiles; every answer must be Success.
//   node bench_js.js URL JOINEUI DEVEUI_PREFIX(12 hex) NDEVICES APPKEY CONNECTIONS SECONDS
// Environment: LW_BI_TOKEN, the Backend Interfaces token of SenderID 000013 (sent as
// "Authorization: Bearer"; none when unset).
"use strict";
const http = require("http");
const path = require("path");
const lp = require(path.join(__dirname, "../../crosscheck/node_modules/lora-packet"));

const [url, joinEui, prefix, nDev, appKey, nConn, secs] = process.argv.slice(2);
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(nConn) });
const perDev = 4000; // join-requests prepared per device (DevNonce 1..perDev)
const devs = [];
for (let d = 0; d < Number(nDev); d++) {
  const devEui = prefix + d.toString(16).padStart(4, "0");
  devs.push({ devEui, next: 1, bodies: [] });
}
function body(dev, n) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  const phy = lp.fromFields({ MType: "Join Request", AppEUI: Buffer.from(joinEui, "hex"),
    DevEUI: Buffer.from(dev.devEui, "hex"), DevNonce: b }, undefined, undefined, Buffer.from(appKey, "hex"));
  return JSON.stringify({ ProtocolVersion: "1.1", TransactionID: n, MessageType: "JoinReq",
    SenderID: "000013", ReceiverID: joinEui.toUpperCase(), MACVersion: "1.0.4",
    PHYPayload: phy.getPHYPayload().toString("hex"), DevEUI: dev.devEui.toUpperCase(),
    DevAddr: "26011234", DLSettings: "00", RxDelay: 1 });
}
const lat = [];
let ok = 0, bad = 0, stop = false;
function one(conn) {
  if (stop) return Promise.resolve();
  const dev = devs[conn.devs[conn.k++ % conn.devs.length]];
  if (dev.next > perDev) { stop = true; return Promise.resolve(); }
  const data = body(dev, dev.next++);
  const t0 = process.hrtime.bigint();
  const headers = { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) };
  if (process.env.LW_BI_TOKEN) headers.Authorization = `Bearer ${process.env.LW_BI_TOKEN}`;
  return new Promise((resolve) => {
    const req = http.request({ host: u.hostname, port: u.port, path: "/", method: "POST", agent,
      headers }, (res) => {
      let s = "";
      res.on("data", (c) => (s += c));
      res.on("end", () => {
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        try { JSON.parse(s).Result.ResultCode === "Success" ? ok++ : bad++; } catch (e) { bad++; }
        resolve();
      });
    });
    req.on("error", () => { bad++; resolve(); });
    req.end(data);
  });
}
async function loop(conn) { while (!stop) await one(conn); }
// Each connection owns its devices (c, c + C, c + 2C, ...): a device's DevNonces then
// arrive in order, as from one radio.
if (devs.length < Number(nConn)) throw new Error("need at least as many devices as connections");
const conns = [];
for (let c = 0; c < Number(nConn); c++) {
  const mine = [];
  for (let d = c; d < devs.length; d += Number(nConn)) mine.push(d);
  conns.push({ devs: mine, k: 0 });
}
const t0 = Date.now();
setTimeout(() => (stop = true), Number(secs) * 1000);
Promise.all(conns.map(loop)).then(() => {
  const s = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const p = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(2) : "n/a");
  console.log(`js: ${Math.round(ok / s)} joins/s through Backend Interfaces (${ok} accepted, ${bad} refused in ${s.toFixed(1)} s, ${nConn} connections, ${devs.length} devices; latency p50 ${p(0.5)} ms, p99 ${p(0.99)} ms; each join one PostgreSQL transaction)`);
  process.exit(bad ? 1 : 0);
});
