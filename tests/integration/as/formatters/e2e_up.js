// The uplink formatter of e2e_test_as_formatters: a vendor-style decodeUplink.
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
function decodeUplink({ bytes, fPort }) {
  const [first, ...rest] = bytes;
  return {
    data: { first, rest, sum: bytes.reduce((a, b) => a + b, 0), hex: toHex(bytes), port: `p${fPort}` },
    warnings: rest.includes(4) ? ['saw a 4'] : [],
  };
}
