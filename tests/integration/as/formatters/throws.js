function decodeUplink(input) {
  if (input.fPort === 9) return { errors: ['bad port', 'really bad'] };
  if (input.fPort === 8) return { data: 42 };
  if (input.fPort === 7) return undefined;
  throw new Error('boom');
}
