import { allocateBytes } from "../protocol/allocate_bytes.ts";
import { encodeFrames } from "../protocol/frame_encoder.ts";
import { varint } from "../protocol/varint.ts";

/**
 * Frames encoded once and shared by every recipient of a broadcast: a TCP session whose
 * queue holds nothing else writes `framed` as it is, with no copy and no per-recipient
 * work; a WebSocket session sends `payloads` one message each.
 */
export class FramedBatch {
  readonly payloads: readonly Uint8Array[];
  /** The payloads, each preceded by its varint length. */
  readonly framed: Uint8Array;

  constructor(payloads: readonly Uint8Array[], framed = encodeFrames(payloads)) {
    this.payloads = payloads;
    this.framed = framed;
  }

  /**
   * The frames of `chunks` as one batch in memory of its own. Chunks may be views into
   * shared slabs (allocateBytes), each keeping its whole slab alive: a queue that holds
   * many of them compacts them, so that what it keeps is what it counts.
   */
  static compact(chunks: readonly OutboundChunk[]): FramedBatch {
    const payloads = chunks.flatMap((chunk) =>
      chunk instanceof FramedBatch ? chunk.payloads : [chunk]
    );
    const encoded = encodeFrames(payloads);
    const framed = encoded.byteLength === encoded.buffer.byteLength ? encoded : encoded.slice();
    let offset = 0;
    const views = payloads.map((payload) => {
      offset += varint.size(payload.length);
      const view = framed.subarray(offset, offset + payload.length);
      offset += payload.length;
      return view;
    });
    return new FramedBatch(views, framed);
  }
}

/** What a session queues: one frame payload, or a shared batch of them. */
export type OutboundChunk = Uint8Array | FramedBatch;

/** A chunk's size, for queue limits: its payload bytes, or a batch's framed bytes. */
export function chunkBytes(chunk: OutboundChunk): number {
  return chunk instanceof FramedBatch ? chunk.framed.length : chunk.length;
}

/** Frames chunks for one TCP write. A lone batch is written as it is: the fast path. */
export function encodeChunks(chunks: readonly OutboundChunk[]): Uint8Array {
  if (chunks.length === 1 && chunks[0] instanceof FramedBatch) return chunks[0].framed;
  const parts: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  for (const chunk of chunks) {
    if (chunk instanceof FramedBatch) {
      if (run.length > 0) parts.push(encodeFrames(run));
      run = [];
      parts.push(chunk.framed);
    } else {
      run.push(chunk);
    }
  }
  if (run.length > 0) parts.push(encodeFrames(run));
  if (parts.length === 1) return parts[0];
  const out = allocateBytes(parts.reduce((size, part) => size + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
