#!/usr/bin/env node
// Cross-check of components/lorawan against the independent npm package lora-packet 0.9.3.
//
//   node lorapacket.js gen N SEED OUT.json   lora-packet builds N random frames (MIC and
//                                            encryption by lora-packet) for the C checker
//   node lorapacket.js check IN.json         lora-packet decodes, MIC-verifies and decrypts
//                                            frames the C library encoded
//
// Both directions use one JSON schema (an array of frames):
//   { id, kind: data|join_request|join_accept|rejoin_request|proprietary,
//     lorawan_version: "1.0"|"1.1", phy_hex, keys: {...}, fcnt, conf_fcnt, tx_dr, tx_ch,
//     fields: {...} }
// `fields` holds the plaintext values the frame was built from (see gen*() below).
//
// lora-packet facts this relies on (read from its 0.9.3 sources):
// - DevAddr, FCnt, EUIs, nonces are big-endian Buffers; the upper 16 bits of a 32-bit
//   FCnt go in as FCntMSBytes in wire (little-endian) order.
// - 1.1 uplink MIC: calculateMIC(p, FNwkSIntKey, SNwkSIntKey, FCntMSBytes, ConfTxDrTxCh)
//   where ConfTxDrTxCh's first two bytes are byte-swapped before use, so they are given
//   big-endian; lora-packet also uses ConfFCnt on FPort-0 uplinks without ACK (the spec
//   says ACK only), so such frames get ConfFCnt 0 on the lora-packet side.
// - 1.1 downlink MIC: calculateMIC(p, undefined, SNwkSIntKey, FCntMSBytes, ConfFCnt LE)
//   uses ConfFCnt whether or not ACK is set, so it is given only with ACK.
// - Rejoin type 1 is parsed with RJcount1 at the wrong offset, so rj_count of type 1 is
//   not compared on the lora-packet side (the MIC covers the raw bytes and is checked).
"use strict";

const fs = require("fs");
const lp = require("lora-packet");

// ---- deterministic random numbers (mulberry32) ------------------------------------------
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n), // 0..n-1
    bool: () => next() < 0.5,
    bytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
    u32: () => Math.floor(next() * 4294967296),
  };
}

const hex = (b) => Buffer.from(b).toString("hex");
const be = (v, n) => {
  const b = Buffer.alloc(n);
  b.writeUIntBE(v, 0, n);
  return b;
};
const MTYPES = [
  "JoinRequest", "JoinAccept", "UnconfirmedDataUp", "UnconfirmedDataDown",
  "ConfirmedDataUp", "ConfirmedDataDown", "RejoinRequest", "Proprietary",
];
// Upper 16 bits of a 32-bit counter, little-endian, as lora-packet's FCntMSBytes.
const fcntMsb = (fcnt) => Buffer.from([(fcnt >>> 16) & 0xff, (fcnt >>> 24) & 0xff]);

// ---- generation by lora-packet ----------------------------------------------------------
function randomFcnt(r) {
  switch (r.int(4)) {
    case 0: return r.int(65536);
    case 1: return 65536 + r.int(65536 * 4); // just past the 16-bit rollover
    case 2: return 0xffff0000 + r.int(65536); // top of the 32-bit range
    default: return r.u32();
  }
}

function genData(r, id, v11) {
  const mtypeNo = 2 + r.int(4);
  const uplink = mtypeNo % 2 === 0;
  const fcnt = randomFcnt(r);
  const devAddr = r.bytes(4);
  const fctrl = { ADR: r.bool(), ACK: r.bool(), ADRACKReq: uplink && r.bool(), FPending: r.bool() };
  // FPort: absent (no payload), 0 (MAC commands in FRMPayload), or 1..255.
  const portKind = r.int(6);
  const fport = portKind === 0 ? null : portKind === 1 ? 0 : 1 + r.int(255);
  const payload = fport === null ? Buffer.alloc(0) : r.bytes(r.int(fport === 0 ? 16 : 60));
  const fopts = fport === 0 ? Buffer.alloc(0) : r.bytes(r.int(4) === 0 ? 0 : r.int(16));
  const keys = {};
  const fields = { MType: mtypeNo, DevAddr: devAddr, FCtrl: fctrl, FCnt: fcnt & 0xffff, payload, FOpts: fopts };
  if (fport !== null) fields.FPort = fport;
  const msb = fcntMsb(fcnt);
  let p;
  const frame = { id, kind: "data", lorawan_version: v11 ? "1.1" : "1.0", fcnt };
  if (!v11) {
    keys.nwk_s_key = r.bytes(16);
    keys.app_s_key = r.bytes(16);
    p = lp.fromFields(fields, keys.app_s_key, keys.nwk_s_key, undefined, msb);
    lp.recalculateMIC(p, keys.nwk_s_key, undefined, msb);
  } else {
    keys.f_nwk_s_int_key = r.bytes(16);
    keys.s_nwk_s_int_key = r.bytes(16);
    keys.nwk_s_enc_key = r.bytes(16);
    keys.app_s_key = r.bytes(16);
    // FRMPayload: AppSKey, or NwkSEncKey for FPort 0 (passed as lora-packet's "NwkSKey").
    p = lp.fromFields(fields, keys.app_s_key, keys.nwk_s_enc_key, undefined, msb);
    if (fopts.length > 0) p.encryptFOpts(keys.nwk_s_enc_key, undefined, msb);
    const conf = r.int(65536);
    frame.conf_fcnt = conf;
    if (uplink) {
      const txDr = r.int(16), txCh = r.int(256);
      frame.tx_dr = txDr;
      frame.tx_ch = txCh;
      const lpConf = !fctrl.ACK && fport === 0 ? 0 : conf;
      const b = Buffer.from([lpConf >> 8, lpConf & 0xff, txDr, txCh]);
      lp.recalculateMIC(p, keys.f_nwk_s_int_key, keys.s_nwk_s_int_key, msb, b);
    } else {
      const lpConf = fctrl.ACK ? conf : 0;
      lp.recalculateMIC(p, undefined, keys.s_nwk_s_int_key, msb, Buffer.from([lpConf & 0xff, lpConf >> 8]));
    }
  }
  frame.phy_hex = hex(p.getPHYPayload());
  frame.keys = Object.fromEntries(Object.entries(keys).map(([k, b]) => [k, hex(b)]));
  frame.fields = {
    mtype: MTYPES[mtypeNo],
    dev_addr_be: hex(devAddr),
    adr: fctrl.ADR,
    ack: fctrl.ACK,
    adr_ack_req: fctrl.ADRACKReq,
    fctrl_bit4: fctrl.FPending, // FPending downlink, ClassB uplink
    fcnt16: fcnt & 0xffff,
    fopts_plain_hex: hex(fopts),
    fport,
    frm_payload_plain_hex: hex(payload),
  };
  return frame;
}

function genJoinRequest(r, id) {
  const joinEui = r.bytes(8), devEui = r.bytes(8), devNonce = r.bytes(2), key = r.bytes(16);
  const p = lp.fromFields({ MType: "Join Request", AppEUI: joinEui, DevEUI: devEui, DevNonce: devNonce },
    undefined, undefined, key);
  return {
    id, kind: "join_request", lorawan_version: r.bool() ? "1.1" : "1.0",
    phy_hex: hex(p.getPHYPayload()),
    keys: { key: hex(key) },
    fields: { join_eui_be: hex(joinEui), dev_eui_be: hex(devEui), dev_nonce: devNonce.readUInt16BE(0) },
  };
}

function genJoinAccept(r, id, v11) {
  const joinNonce = r.bytes(3), netId = r.bytes(3), devAddr = r.bytes(4);
  const rx1 = r.int(8), rx2 = r.int(16), rxDelay = r.int(16);
  const cflist = r.bool() ? r.bytes(16) : Buffer.alloc(0);
  const encKey = r.bytes(16);
  const fields = {
    MType: "Join Accept", AppNonce: joinNonce, NetID: netId, DevAddr: devAddr,
    DLSettings: (v11 ? 0x80 : 0) | (rx1 << 4) | rx2, RxDelay: rxDelay, CFList: cflist,
  };
  const frame = { id, kind: "join_accept", lorawan_version: v11 ? "1.1" : "1.0" };
  let p;
  if (!v11) {
    p = lp.fromFields(fields, undefined, undefined, encKey);
    frame.keys = { key: hex(encKey), mic_key: hex(encKey) };
  } else {
    const jsIntKey = r.bytes(16), joinEui = r.bytes(8), devNonce = r.bytes(2);
    const jrt = [0xff, 0xff, 0, 1, 2][r.int(5)];
    Object.assign(fields, { AppEUI: joinEui, DevNonce: devNonce, JoinReqType: jrt === 0 ? Buffer.from([0]) : jrt });
    p = lp.fromFields(fields); // no keys: MIC and encryption below
    p.JoinEUI = joinEui; // the 1.1 MIC code reads JoinEUI
    lp.recalculateMIC(p, jsIntKey, encKey);
    lp.decryptJoin(p, encKey).copy(p.MACPayloadWithMIC);
    frame.keys = { key: hex(encKey), mic_key: hex(jsIntKey) };
    Object.assign(frame, { join_req_type: jrt, join_eui_be: hex(joinEui), dev_nonce: devNonce.readUInt16BE(0) });
  }
  frame.phy_hex = hex(p.getPHYPayload());
  frame.fields = {
    join_nonce: joinNonce.readUIntBE(0, 3), net_id_be: hex(netId), dev_addr_be: hex(devAddr),
    opt_neg: v11, rx1_dr_offset: rx1, rx2_data_rate: rx2, rx_delay: rxDelay,
    cflist_hex: cflist.length ? hex(cflist) : null,
  };
  return frame;
}

// lora-packet cannot build rejoin-requests: the bytes are laid out here (LoRaWAN 1.1
// §6.2.4) and lora-packet parses them and computes the MIC.
function genRejoin(r, id) {
  const type = r.int(3), devEui = r.bytes(8), rj = r.int(65536), key = r.bytes(16);
  const fields = { rejoin_type: type, dev_eui_be: hex(devEui), rj_count: rj };
  let body;
  if (type === 1) {
    const joinEui = r.bytes(8);
    fields.join_eui_be = hex(joinEui);
    body = Buffer.concat([Buffer.from([1]), Buffer.from(joinEui).reverse(), Buffer.from(devEui).reverse(), be(rj, 2).reverse()]);
  } else {
    const netId = r.bytes(3);
    fields.net_id_be = hex(netId);
    body = Buffer.concat([Buffer.from([type]), Buffer.from(netId).reverse(), Buffer.from(devEui).reverse(), be(rj, 2).reverse()]);
  }
  const p = lp.fromWire(Buffer.concat([Buffer.from([0xc0]), body, Buffer.alloc(4)]));
  if (type !== 1 && (hex(p.NetID) !== fields.net_id_be || hex(p.DevEUI) !== fields.dev_eui_be))
    throw new Error(`${id}: lora-packet parsed the rejoin differently`);
  if (type === 1) p.AppEUI = p.JoinEUI; // lora-packet's MIC code looks for NetID or AppEUI
  const mic = type === 1 ? lp.calculateMIC(p, undefined, key) : lp.calculateMIC(p, key);
  return {
    id, kind: "rejoin_request", lorawan_version: "1.1",
    phy_hex: hex(Buffer.concat([Buffer.from([0xc0]), body, mic])),
    keys: { key: hex(key) }, fields,
  };
}

function genProprietary(r, id) {
  const body = r.bytes(1 + r.int(40));
  const phy = Buffer.concat([Buffer.from([0xe0]), body]);
  if (lp.fromWire(phy).getMType() !== "Proprietary") throw new Error(`${id}: not proprietary`);
  return { id, kind: "proprietary", lorawan_version: "1.0", phy_hex: hex(phy), keys: {}, fields: { payload_hex: hex(body) } };
}

function gen(n, seed, out) {
  const r = rng(seed);
  const frames = [];
  for (let i = 0; i < n; i++) {
    const id = `lp-${seed}-${i}`;
    const k = r.int(20);
    if (k < 7) frames.push(genData(r, id, false));
    else if (k < 14) frames.push(genData(r, id, true));
    else if (k < 16) frames.push(genJoinRequest(r, id));
    else if (k < 18) frames.push(genJoinAccept(r, id, k === 17));
    else if (k < 19) frames.push(genRejoin(r, id));
    else frames.push(genProprietary(r, id));
  }
  fs.writeFileSync(out, JSON.stringify(frames, null, 1));
  const count = {};
  for (const f of frames) count[f.kind + "/" + f.lorawan_version] = (count[f.kind + "/" + f.lorawan_version] || 0) + 1;
  console.log(`lora-packet generated ${frames.length} frames: ${JSON.stringify(count)}`);
}

// ---- checking frames encoded by the C library -------------------------------------------
function checkFrame(f) {
  const phy = Buffer.from(f.phy_hex, "hex");
  const key = (name) => Buffer.from(f.keys[name], "hex");
  const diff = [];
  const eq = (what, got, want) => {
    if (got !== want) diff.push(`${what}: lora-packet ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };
  const w = f.fields;
  if (f.kind === "data") {
    const p = lp.fromWire(phy);
    const msb = fcntMsb(f.fcnt);
    eq("mtype", MTYPES.indexOf(w.mtype), (phy[0] >> 5));
    eq("dev_addr", hex(p.DevAddr), w.dev_addr_be);
    eq("adr", p.getFCtrlADR(), w.adr);
    eq("ack", p.getFCtrlACK(), w.ack);
    eq("adr_ack_req", p.getFCtrlADRACKReq(), w.adr_ack_req);
    eq("fctrl_bit4", p.getFCtrlFPending(), w.fctrl_bit4);
    eq("fcnt16", p.getFCnt(), w.fcnt16);
    eq("fport", p.getFPort(), w.fport);
    const uplink = p.getDir() === "up";
    let ok;
    if (f.lorawan_version === "1.0") {
      ok = lp.verifyMIC(p, key("nwk_s_key"), undefined, msb);
      eq("fopts", hex(p.FOpts), w.fopts_plain_hex);
    } else {
      const conf = w.ack || (uplink && w.fport === 0) ? f.conf_fcnt : 0;
      if (uplink && !w.ack && w.fport === 0 && f.conf_fcnt !== 0)
        diff.push("generator: FPort-0 uplink without ACK needs conf_fcnt 0 for lora-packet");
      ok = uplink
        ? lp.verifyMIC(p, key("f_nwk_s_int_key"), key("s_nwk_s_int_key"), msb, Buffer.from([conf >> 8, conf & 0xff, f.tx_dr, f.tx_ch]))
        : lp.verifyMIC(p, undefined, key("s_nwk_s_int_key"), msb, Buffer.from([conf & 0xff, conf >> 8]));
      const plainFopts = p.FOpts.length ? lp.fromWire(phy).decryptFOpts(key("nwk_s_enc_key"), undefined, msb) : p.FOpts;
      eq("fopts (decrypted)", hex(plainFopts), w.fopts_plain_hex);
    }
    eq("mic_valid", ok, true);
    if (w.fport !== null && p.FRMPayload.length > 0) {
      const portKey = w.fport === 0 ? (f.lorawan_version === "1.0" ? key("nwk_s_key") : key("nwk_s_enc_key")) : undefined;
      const plain = lp.decrypt(p, w.fport === 0 ? undefined : key("app_s_key"), portKey, msb);
      eq("frm_payload (decrypted)", hex(plain), w.frm_payload_plain_hex);
    } else {
      eq("frm_payload", hex(p.FRMPayload), w.frm_payload_plain_hex);
    }
  } else if (f.kind === "join_request") {
    const p = lp.fromWire(phy);
    eq("mtype", p.getMType(), "Join Request");
    eq("join_eui", hex(p.AppEUI), w.join_eui_be);
    eq("dev_eui", hex(p.DevEUI), w.dev_eui_be);
    eq("dev_nonce", p.DevNonce.readUInt16BE(0), w.dev_nonce);
    eq("mic_valid", lp.verifyMIC(p, undefined, key("key")), true);
  } else if (f.kind === "join_accept") {
    const plain = lp.decryptJoinAccept(lp.fromWire(phy), key("key"));
    const p = lp.fromWire(plain);
    eq("join_nonce", p.AppNonce.readUIntBE(0, 3), w.join_nonce);
    eq("net_id", hex(p.NetID), w.net_id_be);
    eq("dev_addr", hex(p.DevAddr), w.dev_addr_be);
    eq("opt_neg", p.getDLSettingsOptNeg(), w.opt_neg);
    eq("rx1_dr_offset", p.getDLSettingsRxOneDRoffset(), w.rx1_dr_offset);
    eq("rx2_data_rate", p.getDLSettingsRxTwoDataRate(), w.rx2_data_rate);
    eq("rx_delay", p.getRxDelayDel(), w.rx_delay);
    eq("cflist", p.CFList.length ? hex(p.CFList) : null, w.cflist_hex);
    let ok;
    if (w.opt_neg) {
      p.JoinReqType = Buffer.from([f.join_req_type]);
      p.JoinEUI = Buffer.from(f.join_eui_be, "hex");
      p.DevNonce = be(f.dev_nonce, 2);
      ok = lp.verifyMIC(p, key("mic_key"), key("key"));
    } else {
      ok = lp.verifyMIC(p, undefined, key("mic_key"));
    }
    eq("mic_valid", ok, true);
  } else if (f.kind === "rejoin_request") {
    const p = lp.fromWire(phy);
    eq("rejoin_type", p.RejoinType[0], w.rejoin_type);
    eq("dev_eui", hex(p.DevEUI), w.dev_eui_be);
    if (w.rejoin_type !== 1) {
      eq("net_id", hex(p.NetID), w.net_id_be);
      eq("rj_count", p.RJCount0.readUInt16BE(0), w.rj_count);
    } else {
      eq("join_eui", hex(p.JoinEUI), w.join_eui_be);
    }
    if (w.rejoin_type === 1) p.AppEUI = p.JoinEUI;
    const ok = w.rejoin_type === 1 ? lp.verifyMIC(p, undefined, key("key")) : lp.verifyMIC(p, key("key"));
    eq("mic_valid", ok, true);
  } else if (f.kind === "proprietary") {
    eq("mtype", lp.fromWire(phy).getMType(), "Proprietary");
    eq("payload", hex(phy.slice(1)), w.payload_hex);
  } else {
    diff.push(`unknown kind ${f.kind}`);
  }
  return diff;
}

function check(file) {
  const frames = JSON.parse(fs.readFileSync(file, "utf8"));
  let failed = 0;
  for (const f of frames) {
    let diff;
    try {
      diff = checkFrame(f);
    } catch (e) {
      diff = [`lora-packet threw: ${e.message}`];
    }
    if (diff.length) {
      failed++;
      console.log(`${f.id} (${f.kind} ${f.lorawan_version} ${f.phy_hex}): ${diff.join("; ")}`);
    }
  }
  console.log(`lora-packet checked ${frames.length} frames encoded by components/lorawan: ${frames.length - failed} passed, ${failed} failed`);
  return failed === 0 && frames.length > 0 ? 0 : 1;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === "gen" && args.length === 3) {
  gen(parseInt(args[0], 10), parseInt(args[1], 10), args[2]);
} else if (cmd === "check" && args.length === 1) {
  process.exitCode = check(args[0]);
} else {
  console.error("usage: lorapacket.js gen N SEED OUT.json | check IN.json");
  process.exitCode = 2;
}
