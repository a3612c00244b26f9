#!/usr/bin/env node
// A LoRaWAN end device's side of a join, computed by the independent npm package lora-packet
// (tests/crosscheck/node_modules, `npm ci` there), for the Join Server's tests:
//
//   node lwjoin.js request KEY JOINEUI DEVEUI DEVNONCE
//       prints the join-request PHYPayload (hex) with its MIC under KEY (AppKey for
//       LoRaWAN 1.0.x, NwkKey for 1.1)
//   node lwjoin.js accept VERSION KEY APPKEY JOINEUI DEVEUI DEVNONCE PHYHEX
//       decrypts a join-accept as the device does (VERSION 1.0.x: KEY is the AppKey, or the
//       NwkKey of a 1.1 device on a 1.0 network; 1.1: KEY is the NwkKey), checks its MIC and
//       prints one JSON line: mic_ok, join_nonce, net_id, dev_addr, opt_neg, rx1_dr_offset,
//       rx2_data_rate, rx_delay, cflist and the session keys the device derives
//       (1.0: nwk_s_key, app_s_key; 1.1: f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key,
//       app_s_key).
//   node lwjoin.js unwrap KEK WRAPPED
//       prints the RFC 3394 unwrap (node's crypto, id-aesNNN-wrap) of a KeyEnvelope's AESKey
// EUIs, DevNonce and keys are hex as printed by consoles (big-endian EUIs, DevNonce decimal).
"use strict";

const path = require("path");
const lp = require(path.join(__dirname, "../../crosscheck/node_modules/lora-packet"));

const hex = (b) => Buffer.from(b).toString("hex");
const buf = (h) => Buffer.from(h, "hex");
const be16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
};

const [cmd, ...a] = process.argv.slice(2);
if (cmd === "request") {
  const [key, joinEui, devEui, devNonce] = a;
  const p = lp.fromFields(
    { MType: "Join Request", AppEUI: buf(joinEui), DevEUI: buf(devEui), DevNonce: be16(Number(devNonce)) },
    undefined, undefined, buf(key));
  process.stdout.write(hex(p.getPHYPayload()) + "\n");
} else if (cmd === "accept") {
  const [version, key, appKey, joinEui, devEui, devNonce, phy] = a;
  const plain = lp.decryptJoinAccept(lp.fromWire(buf(phy)), buf(key));
  const p = lp.fromWire(plain);
  const optNeg = p.getDLSettingsOptNeg();
  const out = {
    join_nonce: p.AppNonce.readUIntBE(0, 3),
    net_id: hex(p.NetID),
    dev_addr: hex(p.DevAddr),
    opt_neg: optNeg,
    rx1_dr_offset: p.getDLSettingsRxOneDRoffset(),
    rx2_data_rate: p.getDLSettingsRxTwoDataRate(),
    rx_delay: p.getRxDelayDel(),
    cflist: p.CFList.length ? hex(p.CFList) : null,
  };
  const dn = be16(Number(devNonce));
  if (version === "1.1") {
    const js = lp.generateJSKeys(buf(key), buf(devEui));
    p.JoinReqType = Buffer.from([0xff]);
    p.JoinEUI = buf(joinEui);
    p.DevNonce = dn;
    out.mic_ok = optNeg === true && lp.verifyMIC(p, js.JSIntKey, buf(key));
    const k = lp.generateSessionKeys11(buf(appKey), buf(key), buf(joinEui), p.AppNonce, dn);
    Object.assign(out, {
      f_nwk_s_int_key: hex(k.FNwkSIntKey), s_nwk_s_int_key: hex(k.SNwkSIntKey),
      nwk_s_enc_key: hex(k.NwkSEncKey), app_s_key: hex(k.AppSKey),
    });
  } else {
    out.mic_ok = lp.verifyMIC(p, undefined, buf(key));
    const k = lp.generateSessionKeys10(buf(key), p.NetID, p.AppNonce, dn);
    Object.assign(out, { nwk_s_key: hex(k.NwkSKey), app_s_key: hex(k.AppSKey) });
  }
  process.stdout.write(JSON.stringify(out) + "\n");
} else if (cmd === "unwrap") {
  const crypto = require("crypto");
  const [kek, wrapped] = a;
  const d = crypto.createDecipheriv(`id-aes${kek.length * 4}-wrap`, buf(kek), buf("a6a6a6a6a6a6a6a6"));
  process.stdout.write(hex(Buffer.concat([d.update(buf(wrapped)), d.final()])) + "\n");
} else {
  process.stderr.write("usage: lwjoin.js request|accept ...\n");
  process.exit(2);
}
