import { allocateBytes } from "./allocate_bytes.ts";
import { varint } from "./varint.ts";

/**
 * Joins payloads into one buffer, each preceded by its length as a varint, so a
 * batch of frames goes out in a single write.
 */
export function encodeFrames(payloads: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const payload of payloads) size += varint.size(payload.length) + payload.length;
  const out = allocateBytes(size);
  let offset = 0;
  for (const payload of payloads) {
    offset = varint.write(out, offset, payload.length);
    out.set(payload, offset);
    offset += payload.length;
  }
  return out;
}
