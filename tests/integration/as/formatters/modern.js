// A vendor-style codec written with what today's vendor codecs use: let/const, arrow
// functions, template literals, default parameters, destructuring, spread, classes,
// padStart, Array.from, includes, Object.entries, toUTCString, typed arrays, DataView.
const SENSOR_TYPES = { 1: 'temperature', 2: 'humidity', 3: 'battery' };

class Reader {
  constructor(bytes, offset = 0) {
    this.view = new DataView(Uint8Array.from(bytes).buffer);
    this.offset = offset;
  }
  get remaining() { return this.view.byteLength - this.offset; }
  u8() { return this.view.getUint8(this.offset++); }
  i16() { const v = this.view.getInt16(this.offset, false); this.offset += 2; return v; }
  f32le() { const v = this.view.getFloat32(this.offset, true); this.offset += 4; return v; }
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const scale = (v, { factor = 10, digits = 1 } = {}) => Number((v / factor).toFixed(digits));

function decodeUplink(input) {
  const { bytes, fPort, recvTime } = input;
  const warnings = [];
  if (![1, 2, 3].includes(fPort)) {
    return { errors: [`unknown fPort ${fPort}`] };
  }
  const r = new Reader(bytes);
  const data = { raw: hex(bytes), port: fPort };
  while (r.remaining > 0) {
    const type = r.u8();
    const name = SENSOR_TYPES[type];
    if (name === undefined) {
      warnings.push(`unknown type 0x${type.toString(16).padStart(2, '0')}`);
      break;
    }
    if (type === 3) {
      data[name] = r.u8();
    } else {
      data[name] = scale(r.i16());
    }
  }
  const summary = Object.entries(data)
    .filter(([k]) => !['raw', 'port'].includes(k))
    .map(([k, v]) => `${k}=${v}`);
  const u16 = new Uint16Array([...bytes.slice(0, 2), 0, 0]);
  const f = new Float32Array(1); f[0] = 1.5;
  return {
    data: {
      ...data,
      summary: summary.join(';'),
      received: recvTime.toUTCString(),
      typed: Array.from(u16).reduce((a, b) => a + b, 0) + f[0],
      entries: Object.entries({ a: 1, b: [2, 3] }),
      ...(fPort === 2 ? { f32: new Reader([0, 0, 0xc0, 0x3f]).f32le() } : {}),
    },
    warnings,
  };
}

function encodeDownlink({ data: { interval = 60, led = false, mode = 'normal' } = {}, fPort }) {
  const modes = ['normal', 'eco', 'boost'];
  if (!modes.includes(mode)) {
    return { errors: [`invalid mode ${mode}`] };
  }
  const buf = new Uint8Array(4);
  new DataView(buf.buffer).setUint16(0, interval, false);
  buf[2] = led ? 1 : 0;
  buf[3] = modes.indexOf(mode);
  return { bytes: buf, fPort: fPort || 10, warnings: interval > 3600 ? ['long interval'] : [] };
}

function decodeDownlink({ bytes, fPort }) {
  const v = new DataView(Uint8Array.from(bytes).buffer);
  return { data: { interval: v.getUint16(0, false), led: bytes[2] === 1 }, warnings: [], errors: [] };
}
