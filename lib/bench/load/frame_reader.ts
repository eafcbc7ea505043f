/**
 * A minimal ServerMessage reader for the load tool: splits the byte stream into
 * varint-delimited frames and pulls out only the fields the bench looks at, into one
 * reused object. protobuf-es would build several objects and strings per frame, and
 * at a million deliveries a second that, not the server, would be what we measured.
 * For the same reason it does its own framing rather than use lib/protocol's FrameDecoder,
 * which hands each frame out as a new subarray: here a frame is read in place.
 */
import { MAX_VARINT_PREFIX_BYTES } from "../../protocol/limits.ts";
import { varint } from "../../protocol/varint.ts";

/** ServerMessage's body field numbers (0: no body). */
export const Body = { None: 0, Welcome: 1, Chat: 2, Error: 6 } as const;

/** The fields of the last frame read; those its body does not have are 0. */
export class ServerFrame {
  /** The body's field number: Body.Welcome, Body.Chat, ... (others are read as numbers). */
  body = 0;
  /** Welcome.session_id. */
  sessionId = 0;
  /** ChatEvent fields; the content is bytes contentStart..contentEnd of `bytes`. */
  action = 0;
  fromSessionId = 0;
  clientSeq = 0;
  bytes: Uint8Array = new Uint8Array(0);
  contentStart = 0;
  contentEnd = 0;
  /** Error fields. */
  errorCode = 0;
  fatal = false;
}

/** Thrown on bytes that are not frames of ServerMessage: the stream cannot go on. */
export class BadFrameError extends Error {}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

/** Splits a byte stream into frames and decodes each into `frame` before calling back. */
export class FrameReader {
  readonly frame = new ServerFrame();
  readonly #maxFrameBytes: number;
  #length = 0;
  #prefixBytes = 0;
  /** A frame split across reads is gathered here; reused, grown when needed. */
  #partial = new Uint8Array(1024);
  #filled = 0;
  #gathering = false;
  /** Decoding position, shared by the field readers below. */
  #at = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Feeds `chunk[0..length)`; calls `onFrame` with `this.frame` filled for each frame. */
  push(chunk: Uint8Array, length: number, onFrame: (frame: ServerFrame) => void): void {
    let offset = 0;
    while (offset < length) {
      if (this.#gathering) {
        const taken = Math.min(this.#length - this.#filled, length - offset);
        this.#partial.set(chunk.subarray(offset, offset + taken), this.#filled);
        this.#filled += taken;
        offset += taken;
        if (this.#filled < this.#length) return;
        this.#gathering = false;
        this.#decode(this.#partial, 0, this.#length);
        this.#length = 0;
        onFrame(this.frame);
        continue;
      }
      const byte = chunk[offset++];
      this.#length += (byte & 0x7f) * varint.weight[this.#prefixBytes];
      this.#prefixBytes++;
      if (byte & 0x80) {
        if (this.#prefixBytes === MAX_VARINT_PREFIX_BYTES) {
          throw new BadFrameError("frame length prefix over 5 bytes");
        }
        continue;
      }
      this.#prefixBytes = 0;
      const frameLength = this.#length;
      if (frameLength > this.#maxFrameBytes) {
        throw new BadFrameError(`frame of ${frameLength} bytes`);
      }
      if (length - offset >= frameLength) {
        this.#length = 0;
        this.#decode(chunk, offset, offset + frameLength);
        offset += frameLength;
        onFrame(this.frame);
      } else {
        if (this.#partial.length < frameLength) this.#partial = new Uint8Array(frameLength * 2);
        this.#filled = 0;
        this.#gathering = true;
      }
    }
  }

  #decode(bytes: Uint8Array, start: number, end: number): void {
    const frame = this.frame;
    frame.body = Body.None;
    frame.sessionId =
      frame.action =
      frame.fromSessionId =
      frame.clientSeq =
        0;
    frame.contentStart = frame.contentEnd = frame.errorCode = 0;
    frame.fatal = false;
    frame.bytes = bytes;
    this.#at = start;
    while (this.#at < end) {
      const tag = this.#varint(bytes, end);
      if ((tag & 7) !== WIRE_LENGTH) {
        this.#skip(bytes, end, tag & 7);
        continue;
      }
      const bodyEnd = this.#lengthEnd(bytes, end);
      frame.body = tag >>> 3;
      if (frame.body === Body.Welcome) this.#welcome(bytes, bodyEnd);
      else if (frame.body === Body.Chat) this.#chatEvent(bytes, bodyEnd);
      else if (frame.body === Body.Error) this.#error(bytes, bodyEnd);
      this.#at = bodyEnd;
    }
  }

  #welcome(bytes: Uint8Array, end: number): void {
    while (this.#at < end) {
      const tag = this.#varint(bytes, end);
      if (tag === (1 << 3 | WIRE_VARINT)) this.frame.sessionId = this.#varint(bytes, end);
      else this.#skip(bytes, end, tag & 7);
    }
  }

  #chatEvent(bytes: Uint8Array, end: number): void {
    const frame = this.frame;
    while (this.#at < end) {
      const tag = this.#varint(bytes, end);
      switch (tag) {
        case 1 << 3 | WIRE_VARINT:
          frame.action = this.#varint(bytes, end);
          break;
        case 2 << 3 | WIRE_LENGTH:
          frame.contentEnd = this.#lengthEnd(bytes, end);
          frame.contentStart = this.#at;
          this.#at = frame.contentEnd;
          break;
        case 3 << 3 | WIRE_VARINT:
          frame.fromSessionId = this.#varint(bytes, end);
          break;
        case 5 << 3 | WIRE_VARINT:
          frame.clientSeq = this.#varint(bytes, end);
          break;
        default:
          this.#skip(bytes, end, tag & 7);
      }
    }
  }

  #error(bytes: Uint8Array, end: number): void {
    while (this.#at < end) {
      const tag = this.#varint(bytes, end);
      if (tag === (1 << 3 | WIRE_VARINT)) this.frame.errorCode = this.#varint(bytes, end);
      else if (tag === (3 << 3 | WIRE_VARINT)) this.frame.fatal = this.#varint(bytes, end) !== 0;
      else this.#skip(bytes, end, tag & 7);
    }
  }

  /** A varint as a number: exact below 2^53, which session ids and sequence numbers are. */
  #varint(bytes: Uint8Array, end: number): number {
    // Tags, lengths and small numbers take one byte: the common case, without the loop.
    const first = bytes[this.#at];
    if (first < 0x80 && this.#at < end) {
      this.#at++;
      return first;
    }
    let value = 0;
    for (let scale = 1; this.#at < end; scale *= 128) {
      const byte = bytes[this.#at++];
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
    }
    throw new BadFrameError("truncated varint");
  }

  /** Reads a length prefix and returns where the bytes it announces end. */
  #lengthEnd(bytes: Uint8Array, end: number): number {
    const fieldEnd = this.#varint(bytes, end) + this.#at;
    if (fieldEnd > end) throw new BadFrameError("field runs past its message");
    return fieldEnd;
  }

  #skip(bytes: Uint8Array, end: number, wireType: number): void {
    if (wireType === WIRE_VARINT) {
      while (this.#at < end && bytes[this.#at] >= 0x80) this.#at++;
      this.#at++;
    } else if (wireType === WIRE_FIXED64) this.#at += 8;
    else if (wireType === WIRE_LENGTH) this.#at = this.#lengthEnd(bytes, end);
    else if (wireType === WIRE_FIXED32) this.#at += 4;
    else throw new BadFrameError(`wire type ${wireType}`);
    if (this.#at > end) throw new BadFrameError("field runs past its message");
  }
}
