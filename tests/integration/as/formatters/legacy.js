// The Things Network v2 style: Decoder(bytes, port) / Encoder(object, port), ES5.
function Decoder(bytes, port) {
  var decoded = {};
  if (port === 1) {
    decoded.temperature = ((bytes[0] << 8) | bytes[1]) / 100;
    decoded.led = bytes[2] === 1;
  }
  return decoded;
}
function Encoder(object, port) {
  var bytes = [];
  bytes[0] = object.led ? 1 : 0;
  return bytes;
}
