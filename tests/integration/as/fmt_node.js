// Computes in node what test_as_formatters.sh expects of lwstack's formatters: the same
// scripts, TTS's wrapper semantics (pkg/messageprocessors/javascript), the same result shape
// as fmt_driver prints; then compares with fmt_driver's lines, value by value.
// Usage: node fmt_node.js FORMATTERS_DIR CASES DRIVER_OUTPUT
'use strict';
const fs = require('fs');
const vm = require('vm');
const assert = require('assert');
const [dir, casesFile, outFile] = process.argv.slice(2);

function load(name) {
  const ctx = vm.createContext({});
  vm.runInContext(fs.readFileSync(`${dir}/${name}.js`, 'utf8'), ctx);
  return ctx;
}
const plain = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const bytesOf = (b) => (b && ArrayBuffer.isView(b) ? Array.from(b) : b);

function up(ctx, fPort, bytes, recvTime) {
  try {
    let decoded;
    let normalized;
    const date = new Date(recvTime !== undefined ? recvTime : 0);
    if (typeof ctx.decodeUplink === 'function') {
      decoded = ctx.decodeUplink({ bytes: bytes.slice(), fPort, recvTime: date });
      if ((!decoded.errors || !decoded.errors.length) && decoded.data &&
          typeof ctx.normalizeUplink === 'function') normalized = ctx.normalizeUplink({ data: decoded.data });
    } else {
      decoded = { data: ctx.Decoder(bytes.slice(), fPort) };
    }
    decoded = plain(decoded);
    if (decoded.errors && decoded.errors.length) return { error: 'output_errors', message: decoded.errors.join(', ') };
    if (decoded.data !== undefined && decoded.data !== null && (typeof decoded.data !== 'object' || Array.isArray(decoded.data)))
      return { error: 'output' };
    const r = {};
    if (decoded.data) r.decoded_payload = decoded.data;
    if (decoded.warnings && decoded.warnings.length) r.warnings = decoded.warnings;
    if (normalized) r.normalized_payload = [].concat(plain(normalized).data);
    return r;
  } catch (e) {
    return { error: 'script', message: String(e) };
  }
}

function down(ctx, fPort, data) {
  try {
    let r;
    if (typeof ctx.encodeDownlink === 'function') r = ctx.encodeDownlink({ data, fPort });
    else r = { bytes: ctx.Encoder(data, fPort), fPort };
    r = { ...r, bytes: bytesOf(r.bytes) };
    r = plain(r);
    if (r.errors && r.errors.length) return { error: 'output_errors', message: r.errors.join(', ') };
    const out = { bytes: r.bytes || [], f_port: r.fPort || 0 };
    if (r.warnings && r.warnings.length) out.warnings = r.warnings;
    return out;
  } catch (e) {
    return { error: 'script', message: String(e) };
  }
}

const scripts = {};
const expected = [];
for (const line of fs.readFileSync(casesFile, 'utf8').split('\n')) {
  if (!line.trim() || line.startsWith('#')) continue;
  const [kind, name, port, arg, ...rest] = line.split(' ');
  scripts[name] = scripts[name] || load(name);
  if (kind === 'up') expected.push(up(scripts[name], Number(port), Array.from(Buffer.from(arg, 'hex')), rest[0]));
  else expected.push(down(scripts[name], Number(port), JSON.parse([arg, ...rest].join(' '))));
}
const got = [];
for (const line of fs.readFileSync(outFile, 'utf8').split('\n')) {
  const m = /^(\d+) (\S+) (up|down) (.*)$/.exec(line);
  if (m) got[Number(m[1]) - 1] = JSON.parse(m[4]);
}
let failed = 0;
expected.forEach((want, i) => {
  const have = got[i];
  // Errors: the name must match; messages of script errors are the engines' own words.
  if (want.error) {
    if (!have || have.error !== want.error || (want.error === 'output_errors' && have.message !== want.message)) {
      console.log(`case ${i + 1}: want ${JSON.stringify(want)}, have ${JSON.stringify(have)}`); failed++;
    }
    return;
  }
  const h = have ? { ...have } : have;
  try { assert.deepStrictEqual(h, want); } catch (e) {
    console.log(`case ${i + 1}: want ${JSON.stringify(want)}, have ${JSON.stringify(have)}`); failed++;
  }
});
console.log(`${expected.length - failed}/${expected.length} cases as node computes them`);
process.exit(failed ? 1 : 0);
