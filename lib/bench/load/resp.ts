/**
 * Just enough RESP (Redis's protocol) for the load tool: a PUBLISH writer from a
 * prebuilt template and a streaming reader for a subscriber's pushes. The product's
 * Redis client (ioredis) makes objects per message; this, like redis-benchmark's own
 * code, does not, so the bench measures Redis rather than itself.
 */
import { SEND_TIME_BYTES, wallClockMs, writeSendTime } from "./send_time.ts";
import type { SocketWriter } from "./socket_writer.ts";

const encoder = new TextEncoder();
const CR = 0x0d;
const LF = 0x0a;

/** After the send time: the publisher's index (uint16 LE) and sequence number (uint32 LE). */
export const PUBLISHER_OFFSET = SEND_TIME_BYTES;
export const SEQ_OFFSET = SEND_TIME_BYTES + 2;
export const REDIS_HEADER_BYTES = SEND_TIME_BYTES + 6;

/** `PUBLISH <channel> <payload>` commands, payload = send time, publisher, seq, padding. */
export class PublishEncoder {
  readonly #template: Uint8Array;
  readonly #payloadOffset: number;

  constructor(channel: string, payloadBytes: number, readonly publisher: number) {
    const head = encoder.encode(
      `*3\r\n$7\r\nPUBLISH\r\n$${encoder.encode(channel).length}\r\n${channel}\r\n` +
        `$${payloadBytes}\r\n`,
    );
    this.#payloadOffset = head.length;
    this.#template = new Uint8Array(head.length + payloadBytes + 2).fill(0x2e);
    this.#template.set(head);
    this.#template[this.#template.length - 2] = CR;
    this.#template[this.#template.length - 1] = LF;
    const view = new DataView(this.#template.buffer);
    view.setUint16(this.#payloadOffset + PUBLISHER_OFFSET, publisher, true);
  }

  write(writer: SocketWriter, seq: number): void {
    const at = writer.reserve(this.#template.length);
    const buffer = writer.buffer;
    buffer.set(this.#template, at);
    const payload = at + this.#payloadOffset;
    writeSendTime(buffer, payload, wallClockMs());
    const seqAt = payload + SEQ_OFFSET;
    buffer[seqAt] = seq & 0xff;
    buffer[seqAt + 1] = (seq >>> 8) & 0xff;
    buffer[seqAt + 2] = (seq >>> 16) & 0xff;
    buffer[seqAt + 3] = (seq >>> 24) & 0xff;
    writer.commit(this.#template.length);
  }
}

export function readPublisher(bytes: Uint8Array, payload: number): number {
  return bytes[payload + PUBLISHER_OFFSET] | bytes[payload + PUBLISHER_OFFSET + 1] << 8;
}

export function readSeq(bytes: Uint8Array, payload: number): number {
  const at = payload + SEQ_OFFSET;
  return (bytes[at] | bytes[at + 1] << 8 | bytes[at + 2] << 16 | bytes[at + 3] << 24) >>> 0;
}

/** Encodes a command as a RESP array of bulk strings. */
export function command(...words: string[]): Uint8Array {
  return encoder.encode(
    `*${words.length}\r\n` +
      words.map((word) => `$${encoder.encode(word).length}\r\n${word}\r\n`).join(""),
  );
}

const State = { Type: 0, Line: 1, Bulk: 2 } as const;

/** What a subscriber connection receives, reported as it completes. */
export interface PushHandlers {
  /** A `message` push; its payload is bytes[start..end). */
  message(bytes: Uint8Array, start: number, end: number): void;
  /** A `subscribe` confirmation. */
  subscribed(): void;
  /** An error reply, such as a refused command. */
  error(): void;
}

/**
 * A streaming reader of RESP2 arrays of bulk strings and integers, which is all a
 * subscriber gets. Reads may split anything anywhere; a bulk string split across reads
 * is gathered into a reused buffer.
 */
export class PushReader {
  #state: number = State.Type;
  #type = 0;
  #number = 0;
  #negative = false;
  /** Elements left in the current array and the index of the next one. */
  #elementsLeft = 0;
  #element = 0;
  #kind: "message" | "subscribe" | "other" = "other";
  /** A bulk string's length, and how much of it (plus its CRLF) is gathered. */
  #bulkLength = 0;
  #gathered = 0;
  #gather = new Uint8Array(1024);

  constructor(readonly handlers: PushHandlers) {}

  push(chunk: Uint8Array, length: number): void {
    let at = 0;
    while (at < length) {
      if (this.#state === State.Type) {
        this.#type = chunk[at++];
        this.#number = 0;
        this.#negative = false;
        this.#state = State.Line;
      } else if (this.#state === State.Line) {
        const byte = chunk[at++];
        if (byte === LF) this.#endLine();
        else if (byte >= 0x30 && byte <= 0x39) this.#number = this.#number * 10 + byte - 0x30;
        else if (byte === 0x2d) this.#negative = true;
      } else {
        const needed = this.#bulkLength + 2;
        // The common case: the whole bulk string and its CRLF are in this read.
        if (this.#gathered === 0 && length - at >= needed) {
          this.#bulk(chunk, at, at + this.#bulkLength);
          at += needed;
          this.#state = State.Type;
          continue;
        }
        if (this.#gather.length < needed) this.#gather = new Uint8Array(needed * 2);
        const taken = Math.min(needed - this.#gathered, length - at);
        this.#gather.set(chunk.subarray(at, at + taken), this.#gathered);
        this.#gathered += taken;
        at += taken;
        if (this.#gathered === needed) {
          this.#gathered = 0;
          this.#bulk(this.#gather, 0, this.#bulkLength);
          this.#state = State.Type;
        }
      }
    }
  }

  #endLine(): void {
    const value = this.#negative ? -this.#number : this.#number;
    this.#state = State.Type;
    switch (this.#type) {
      case 0x2a: // "*": an array of `value` elements follows.
        this.#elementsLeft = value;
        this.#element = 0;
        this.#kind = "other";
        return;
      case 0x24: // "$": a bulk string of `value` bytes follows (-1: null).
        if (value < 0) return this.#elementDone();
        this.#bulkLength = value;
        this.#state = State.Bulk;
        return;
      case 0x2d: // "-": an error.
        this.handlers.error();
        return;
      default: // ":" and "+": an integer or a status, nothing to look at.
        this.#elementDone();
    }
  }

  #bulk(bytes: Uint8Array, start: number, end: number): void {
    if (this.#elementsLeft > 0) {
      if (this.#element === 0) this.#kind = kindOf(bytes, start, end);
      else if (this.#element === 2 && this.#kind === "message") {
        this.handlers.message(bytes, start, end);
      }
    }
    this.#elementDone();
  }

  #elementDone(): void {
    if (this.#elementsLeft === 0) return;
    this.#element++;
    if (--this.#elementsLeft === 0 && this.#kind === "subscribe") this.handlers.subscribed();
  }
}

/** "message" or "subscribe", told apart by length and first letter. */
function kindOf(bytes: Uint8Array, start: number, end: number): "message" | "subscribe" | "other" {
  if (end - start === 7 && bytes[start] === 0x6d) return "message";
  if (end - start === 9 && bytes[start] === 0x73) return "subscribe";
  return "other";
}
