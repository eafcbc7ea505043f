/**
 * Joins payloads into one buffer, each preceded by its length as a varint, so a
 * batch of frames goes out in a single write.
 */
export function encodeFrames(payloads: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const payload of payloads) size += varintSize(payload.length) + payload.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const payload of payloads) {
    let length = payload.length;
    while (length >= 0x80) {
      out[offset++] = (length & 0x7f) | 0x80;
      length >>>= 7;
    }
    out[offset++] = length;
    out.set(payload, offset);
    offset += payload.length;
  }
  return out;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size++;
  }
  return size;
}
