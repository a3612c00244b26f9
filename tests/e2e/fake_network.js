#!/usr/bin/env node
// A stand-in for the network side of the Semtech UDP protocol, built on lora-packet 0.9.3
// (tests/crosscheck/node_modules), so that `lwstack simulate` is checked against an
// implementation that is not ours: test_simulate_loopback.sh.
//
//   node fake_network.js --keys KEYS.jsonl --out OUT.jsonl --port-file F
//                        [--answer rx1|rx2|late|none] [--net-id HEX6]
//
// KEYS is the simulator's --keys-out (LoRaWAN 1.0.x devices: nwk_s_key/app_s_key for ABP,
// app_key for OTAA). It answers PULL_DATA with PULL_ACK and PUSH_DATA with PUSH_ACK; for
// every uplink (first gateway copy only) it verifies the MIC with lora-packet, decrypts the
// payload and writes {"event":"uplink",...} to OUT; it answers a join-request with a
// join-accept built and encrypted by lora-packet (RX1 at +5 s, or RX2 at +6 s), and a
// confirmed uplink with an acknowledging downlink carrying FPort 1 "ok" (RX1 at +1 s, RX2 at
// +2 s on 869.525 MHz SF12, or in the past with --answer late). TX_ACKs go to OUT as
// {"event":"tx_ack","error":...}.
"use strict";

const dgram = require("dgram");
const fs = require("fs");
const path = require("path");
const lp = require(path.join(__dirname, "../crosscheck/node_modules/lora-packet"));

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const answer = args.answer || "rx1";
const netId = Buffer.from(args["net-id"] || "000013", "hex");
const out = fs.openSync(args.out, "a");
const log = (o) => fs.writeSync(out, JSON.stringify(o) + "\n");

const byEui = new Map(), byAddr = new Map();
for (const line of fs.readFileSync(args.keys, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const d = JSON.parse(line);
  const dev = { devEui: d.dev_eui, fcntDown: 0, joinNonce: 0 };
  if (d.app_key) dev.appKey = Buffer.from(d.app_key, "hex");
  if (d.nwk_s_key) {
    dev.nwkSKey = Buffer.from(d.nwk_s_key, "hex");
    dev.appSKey = Buffer.from(d.app_s_key, "hex");
    dev.devAddr = d.dev_addr;
    byAddr.set(d.dev_addr, dev);
  }
  byEui.set(d.dev_eui, dev);
}

const sock = dgram.createSocket("udp4");
const pullAddr = new Map(); // gateway EUI → {address, port}
const seen = new Set();
let nextAddr = 0x27000001, downToken = 1;

function pullResp(eui, txpk) {
  const to = pullAddr.get(eui);
  if (!to) return;
  const tok = downToken++ & 0xffff;
  const b = Buffer.concat([Buffer.from([2, tok & 0xff, tok >> 8, 3]), Buffer.from(JSON.stringify({ txpk }))]);
  sock.send(b, to.port, to.address);
}

function txpkFor(rx, phy, rx1DelayS) {
  const rx1 = answer === "rx1" || answer === "late";
  let tmst = (rx.tmst + (rx1 ? rx1DelayS : rx1DelayS + 1) * 1000000) >>> 0;
  if (answer === "late") tmst = (rx.tmst - 1000) >>> 0;
  return {
    imme: false, tmst, rfch: 0, powe: 14, modu: "LORA", codr: "4/5", ipol: true,
    freq: rx1 ? rx.freq : 869.525, datr: rx1 ? rx.datr : "SF12BW125", // RX2: the band's default
    size: phy.length, data: phy.toString("base64"),
  };
}

function onUplink(eui, rx) {
  const phy = Buffer.from(rx.data, "base64");
  const p = lp.fromWire(phy);
  const mtype = p.getMType();
  if (mtype === "Join Request") {
    const devEui = p.getBuffers().DevEUI.toString("hex");
    const devNonce = p.getBuffers().DevNonce;
    const dev = byEui.get(devEui);
    const key = "j" + devEui + devNonce.toString("hex");
    if (seen.has(key)) return;
    seen.add(key);
    const micOk = !!dev && lp.verifyMIC(p, undefined, dev.appKey);
    log({ event: "join_request", gateway_eui: eui, dev_eui: devEui, dev_nonce: devNonce.readUInt16BE(0), mic_ok: micOk });
    if (!micOk || answer === "none") return;
    const appNonce = Buffer.alloc(3);
    appNonce.writeUIntBE(++dev.joinNonce, 0, 3);
    const devAddr = Buffer.alloc(4);
    devAddr.writeUInt32BE(nextAddr++ >>> 0, 0);
    const ja = lp.fromFields({ MType: "Join Accept", AppNonce: appNonce, NetID: netId, DevAddr: devAddr,
      DLSettings: 0, RxDelay: 1, CFList: Buffer.alloc(0) }, undefined, undefined, dev.appKey);
    const keys = lp.generateSessionKeys(dev.appKey, netId, appNonce, devNonce);
    dev.nwkSKey = keys.NwkSKey;
    dev.appSKey = keys.AppSKey;
    dev.devAddr = devAddr.toString("hex");
    dev.fcntDown = 0;
    byAddr.set(dev.devAddr, dev);
    pullResp(eui, txpkFor(rx, ja.getPHYPayload(), 5));
    return;
  }
  if (mtype !== "Unconfirmed Data Up" && mtype !== "Confirmed Data Up") return;
  const devAddr = p.getBuffers().DevAddr.toString("hex");
  const fcnt = p.getFCnt();
  const key = "u" + devAddr + fcnt;
  const dev = byAddr.get(devAddr);
  if (seen.has(key)) {
    log({ event: "copy", gateway_eui: eui, dev_addr: devAddr, f_cnt: fcnt });
    return;
  }
  seen.add(key);
  const micOk = !!dev && lp.verifyMIC(p, dev.nwkSKey);
  const payload = micOk && p.getBuffers().FRMPayload ? lp.decrypt(p, dev.appSKey, dev.nwkSKey).toString("hex") : null;
  log({ event: "uplink", gateway_eui: eui, dev_addr: devAddr, f_cnt: fcnt, mic_ok: micOk, confirmed: mtype === "Confirmed Data Up",
    payload, fopts: p.getBuffers().FOpts.toString("hex"), freq: rx.freq, datr: rx.datr, rssi: rx.rssi, lsnr: rx.lsnr });
  if (!micOk || mtype !== "Confirmed Data Up" || answer === "none") return;
  const dl = lp.fromFields({ MType: "Unconfirmed Data Down", DevAddr: Buffer.from(devAddr, "hex"),
    FCtrl: { ACK: true }, FCnt: dev.fcntDown++, FPort: 1, payload: Buffer.from("ok") }, dev.appSKey, dev.nwkSKey);
  lp.recalculateMIC(dl, dev.nwkSKey);
  pullResp(eui, txpkFor(rx, dl.getPHYPayload(), 1));
}

sock.on("message", (b, from) => {
  if (b.length < 4 || b[0] !== 2) return;
  const eui = b.length >= 12 ? b.subarray(4, 12).toString("hex") : "";
  const type = b[3];
  if (type === 2) { // PULL_DATA
    pullAddr.set(eui, { address: from.address, port: from.port });
    sock.send(Buffer.from([2, b[1], b[2], 4]), from.port, from.address);
  } else if (type === 0) { // PUSH_DATA
    sock.send(Buffer.from([2, b[1], b[2], 1]), from.port, from.address);
    const j = JSON.parse(b.subarray(12).toString());
    for (const rx of j.rxpk || []) onUplink(eui, rx);
    if (j.stat) log({ event: "stat", gateway_eui: eui, rxnb: j.stat.rxnb });
  } else if (type === 5) { // TX_ACK
    const j = b.length > 12 ? JSON.parse(b.subarray(12).toString()) : {};
    log({ event: "tx_ack", gateway_eui: eui, error: (j.txpk_ack || {}).error || "NONE" });
  }
});
sock.bind(0, "127.0.0.1", () => fs.writeFileSync(args["port-file"], String(sock.address().port)));
process.on("SIGTERM", () => process.exit(0));
