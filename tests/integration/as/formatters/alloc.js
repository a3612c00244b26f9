function decodeUplink(input) {
  const keep = [];
  for (;;) keep.push(new Array(1024).fill(input.fPort));
}
