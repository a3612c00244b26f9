#!/usr/bin/env node
// An independent reading of a data downlink's MAC commands for the e2e MAC tests
// (test_mac_adr.sh, test_mac_linkcheck_devicetime.sh): lora-packet 0.9.3
// (tests/crosscheck/node_modules) parses the frame, verifies its MIC and decrypts an FPort 0
// FRMPayload; the MAC commands are then read byte by byte here, from the LoRaWAN 1.0.4 / 1.1
// tables (§5), not with components/lorawan.
//
//   node lwmac.js down KEYS_LINE PHY_HEX F_CNT
//   node lwmac.js up KEYS_LINE PHY_HEX F_CNT
//
// KEYS_LINE: the device's line of `lwstack simulate --keys-out` (ABP session keys: 1.0.x
// nwk_s_key, 1.1 s_nwk_s_int_key and nwk_s_enc_key). F_CNT: the frame's 32-bit counter (the
// 16 low bits are in the frame; the MIC covers the rest). `down` prints one JSON object:
//   {"mic_ok", "f_cnt16", "fport" (null when absent), "fopts_hex", "mac_hex" (the plaintext
//    commands: FOpts, decrypted in 1.1, or the decrypted FRMPayload on FPort 0),
//    "cmds": [{"cid", "name", ...}]}
// A LinkADRReq reads {data_rate, tx_power, ch_mask (16 bits), ch_mask_cntl, nb_trans}, a
// LinkCheckAns {margin, gw_cnt}, a DeviceTimeAns {gps_seconds, fractional} (1/256 s), a
// NewChannelReq {ch_index, frequency_hz, min_dr, max_dr}, an RXParamSetupReq {rx1_dr_offset,
// rx2_data_rate, frequency_hz}, an RXTimingSetupReq {delay}; the others their raw bytes.
// `up` checks a LoRaWAN 1.0.x data uplink: {"mic_ok" (with the 32-bit F_CNT), "f_cnt16",
// "fport"}.
"use strict";

const path = require("path");
const lp = require(path.join(__dirname, "../crosscheck/node_modules/lora-packet"));

// Downlink (network → device) commands: CID → [name, payload length] (LoRaWAN 1.0.4 Table 4,
// 1.1 Table 5, Class B).
const DOWN = {
  0x01: ["ResetConf", 1], 0x02: ["LinkCheckAns", 2], 0x03: ["LinkADRReq", 4],
  0x04: ["DutyCycleReq", 1], 0x05: ["RXParamSetupReq", 4], 0x06: ["DevStatusReq", 0],
  0x07: ["NewChannelReq", 5], 0x08: ["RXTimingSetupReq", 1], 0x09: ["TxParamSetupReq", 1],
  0x0a: ["DlChannelReq", 4], 0x0b: ["RekeyConf", 1], 0x0c: ["ADRParamSetupReq", 1],
  0x0d: ["DeviceTimeAns", 5], 0x0e: ["ForceRejoinReq", 2], 0x0f: ["RejoinParamSetupReq", 1],
  0x10: ["PingSlotInfoAns", 0], 0x11: ["PingSlotChannelReq", 4], 0x12: ["BeaconTimingAns", 3],
  0x13: ["BeaconFreqReq", 3], 0x20: ["DeviceModeConf", 1],
};

const freq = (b, o) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) * 100;

function parse(mac) {
  const cmds = [];
  for (let i = 0; i < mac.length;) {
    const cid = mac[i];
    const info = DOWN[cid];
    if (!info || i + 1 + info[1] > mac.length) {
      cmds.push({ cid, name: "unknown", rest_hex: mac.subarray(i).toString("hex") });
      break;
    }
    const p = mac.subarray(i + 1, i + 1 + info[1]);
    const c = { cid, name: info[0] };
    switch (info[0]) {
      case "LinkADRReq":
        Object.assign(c, {
          data_rate: p[0] >> 4, tx_power: p[0] & 0x0f, ch_mask: p[1] | (p[2] << 8),
          ch_mask_cntl: (p[3] >> 4) & 0x07, nb_trans: p[3] & 0x0f,
        });
        break;
      case "LinkCheckAns":
        Object.assign(c, { margin: p[0], gw_cnt: p[1] });
        break;
      case "DeviceTimeAns":
        Object.assign(c, { gps_seconds: p.readUInt32LE(0), fractional: p[4] });
        break;
      case "NewChannelReq":
        Object.assign(c, { ch_index: p[0], frequency_hz: freq(p, 1), min_dr: p[4] & 0x0f, max_dr: p[4] >> 4 });
        break;
      case "RXParamSetupReq":
        Object.assign(c, { rx1_dr_offset: (p[0] >> 4) & 0x07, rx2_data_rate: p[0] & 0x0f, frequency_hz: freq(p, 1) });
        break;
      case "RXTimingSetupReq":
        Object.assign(c, { delay: p[0] & 0x0f });
        break;
      default:
        c.payload_hex = p.toString("hex");
    }
    cmds.push(c);
    i += 1 + info[1];
  }
  return cmds;
}

// The frame of PHY_HEX, the device's keys and the upper 16 bits of FCnt. LoRaWAN 1.1 (the
// line has s_nwk_s_int_key): MIC with SNwkSIntKey (ConfFCnt 0: no confirmed uplink is
// acknowledged), FOpts and an FPort 0 FRMPayload encrypted with NwkSEncKey; 1.0.x: NwkSKey.
function frame(keysLine, phyHex, fcnt, dir) {
  const keys = JSON.parse(keysLine);
  const key = (k) => Buffer.from(keys[k], "hex");
  if (!keys.nwk_s_key && !keys.s_nwk_s_int_key) throw new Error("lwmac.js: ABP session keys expected");
  const p = lp.fromWire(Buffer.from(phyHex, "hex"));
  if (p.getDir() !== dir) throw new Error(`lwmac.js: not ${dir === "up" ? "an uplink" : "a downlink"}`);
  const f = { p, v11: !!keys.s_nwk_s_int_key, msb: Buffer.from([(fcnt >>> 16) & 0xff, (fcnt >>> 24) & 0xff]) };
  f.enc = f.v11 ? key("nwk_s_enc_key") : key("nwk_s_key");
  f.mic = f.v11 ? key("s_nwk_s_int_key") : key("nwk_s_key");
  return f;
}

function up(keysLine, phyHex, fcnt) {
  const { p, v11, mic, msb } = frame(keysLine, phyHex, fcnt, "up");
  if (v11) throw new Error("lwmac.js up: LoRaWAN 1.0.x only");
  return { mic_ok: lp.verifyMIC(p, mic, undefined, msb), f_cnt16: p.getFCnt(), fport: p.getFPort() };
}

function down(keysLine, phyHex, fcnt) {
  const { p, v11, enc, mic, msb } = frame(keysLine, phyHex, fcnt, "down");
  const out = {
    mic_ok: v11 ? lp.verifyMIC(p, undefined, mic, msb, Buffer.from([0, 0])) : lp.verifyMIC(p, mic, undefined, msb),
    dev_addr: p.DevAddr.toString("hex"),
    f_cnt16: p.getFCnt(),
    fport: p.getFPort(),
    fopts_hex: p.FOpts.toString("hex"),
  };
  let mac = p.FOpts;
  if (out.fport === 0) mac = lp.decrypt(p, undefined, enc, msb);
  else if (v11 && p.FOpts.length > 0) mac = lp.fromWire(Buffer.from(phyHex, "hex")).decryptFOpts(enc, undefined, msb);
  if (out.fport === 0 && p.FOpts.length > 0) out.error = "MAC commands in both FOpts and FPort 0";
  out.mac_hex = Buffer.from(mac).toString("hex");
  out.cmds = parse(Buffer.from(mac));
  return out;
}

const [mode, ...rest] = process.argv.slice(2);
if ((mode === "down" || mode === "up") && rest.length === 3) {
  console.log(JSON.stringify((mode === "down" ? down : up)(rest[0], rest[1], Number(rest[2]))));
} else {
  console.error("usage: node lwmac.js down|up KEYS_LINE PHY_HEX F_CNT");
  process.exit(2);
}
