#!/usr/bin/env node
// A LoRaWAN 1.0.x end device's data frames, built and checked by the independent npm package
// lora-packet (tests/crosscheck/node_modules), for the e2e tests that are not driven by
// `lwstack simulate` (test_bs_*.sh: a device behind a simulated Basics Station). Joins are
// tests/integration/js/lwjoin.js.
//
//   node lwdevice.js up NWKSKEY APPSKEY DEVADDR FCNT FPORT PLAINHEX
//       prints an unconfirmed data uplink PHYPayload (hex): FRMPayload encrypted with
//       APPSKEY, MIC with NWKSKEY (16-bit FCnt on the wire, the 32-bit FCNT in the MIC)
//   node lwdevice.js down NWKSKEY APPSKEY PHYHEX [FCNT_MSB]
//       checks a data downlink as the device does and prints one JSON line: mic_ok,
//       dev_addr, f_cnt (16 bits), f_port (null when absent), payload (decrypted, hex),
//       f_opts (hex), ack, f_pending, confirmed
// Keys and DevAddr are hex as consoles print them (DevAddr big-endian).
"use strict";

const path = require("path");
const lp = require(path.join(__dirname, "../crosscheck/node_modules/lora-packet"));

const hex = (b) => Buffer.from(b || []).toString("hex");
const buf = (h) => Buffer.from(h, "hex");
// The upper 16 bits of a 32-bit counter, little-endian (lora-packet's FCntMSBytes).
const msb = (n) => Buffer.from([(n >>> 16) & 0xff, (n >>> 24) & 0xff]);

const [cmd, ...a] = process.argv.slice(2);
if (cmd === "up") {
  const [nwk, app, addr, fcnt, fport, plain] = a;
  const n = Number(fcnt);
  const p = lp.fromFields(
    { MType: "Unconfirmed Data Up", DevAddr: buf(addr), FCtrl: { ADR: false, ACK: false },
      FCnt: n & 0xffff, FPort: Number(fport), payload: buf(plain) },
    buf(app), buf(nwk), undefined, msb(n));
  lp.recalculateMIC(p, buf(nwk), undefined, msb(n));
  process.stdout.write(hex(p.getPHYPayload()) + "\n");
} else if (cmd === "down") {
  const [nwk, app, phy, hi] = a;
  const p = lp.fromWire(buf(phy));
  const m = msb(Number(hi || 0) << 16);
  const port = p.getFPort();
  const out = {
    mic_ok: lp.verifyMIC(p, buf(nwk), undefined, m),
    dev_addr: hex(p.DevAddr),
    f_cnt: p.getFCnt(),
    f_port: port,
    payload: port === null ? "" : hex(lp.decrypt(p, buf(app), buf(nwk), m)),
    f_opts: hex(p.FOpts),
    ack: p.getFCtrlACK(),
    f_pending: p.getFCtrlFPending(),
    confirmed: p.getMType() === "Confirmed Data Down",
  };
  process.stdout.write(JSON.stringify(out) + "\n");
} else {
  process.stderr.write("usage: lwdevice.js up|down ...\n");
  process.exit(2);
}
