import { allocateBytes } from "../protocol/allocate_bytes.ts";
import { encodeFrames } from "../protocol/frame_encoder.ts";

/**
 * Frames encoded once and shared by every recipient of a broadcast: a TCP session whose
 * queue holds nothing else writes `framed` as it is, with no copy and no per-recipient
 * work; a WebSocket session sends `payloads` one message each.
 */
export class FramedBatch {
  readonly payloads: readonly Uint8Array[];
  /** The payloads, each preceded by its varint length. */
  readonly framed: Uint8Array;

  constructor(payloads: readonly Uint8Array[]) {
    this.payloads = payloads;
    this.framed = encodeFrames(payloads);
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
