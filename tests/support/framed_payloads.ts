import { varint } from "../../lib/protocol/varint.ts";

/**
 * The payloads of a run of whole frames (each a varint length, then the payload), as
 * views of it. The run is ours, written by the server itself: a frame that runs past
 * its end is a bug, not bad input.
 */
export function framedPayloads(framed: Uint8Array): Uint8Array[] {
  const payloads: Uint8Array[] = [];
  let offset = 0;
  while (offset < framed.length) {
    const length = varint.read32(framed, offset);
    if (length === undefined || length[1] + length[0] > framed.length) {
      throw new RangeError(`Cannot split framed bytes: a frame at ${offset} runs past the end`);
    }
    payloads.push(framed.subarray(length[1], length[1] + length[0]));
    offset = length[1] + length[0];
  }
  return payloads;
}
