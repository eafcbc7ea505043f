import { FrameTooLargeError, MalformedMessageError } from "../protocol/errors.ts";
import { WebSocketOpcode } from "./websocket_opcode.ts";
import { WebSocketProtocolError } from "./websocket_protocol_error.ts";

/** What a WebSocketFrameDecoder calls as a client's messages complete. */
export interface WebSocketMessageHandlers {
  /** One whole binary message, reassembled from its fragments; valid only during the call. */
  binary(payload: Uint8Array): void;
  /** A ping, whose payload the pong must echo; valid only during the call. */
  ping(payload: Uint8Array): void;
  /** The peer began the close handshake: nothing after it is read. */
  close(code: number): void;
}

/** A close frame that carries no code, as RFC 6455 section 7.1.5 reports it (never sent). */
const NO_STATUS_CODE = 1005;

/** The longest frame header a client sends: 2 bytes, an 8-byte length, and a 4-byte mask. */
const MAX_HEADER_BYTES = 14;
/**
 * The most frames one message may come in. Clients fragment big messages into pieces of
 * kilobytes, if at all; endless empty fragments would keep a message open for ever.
 */
export const MAX_FRAGMENTS = 1024;
/** RFC 6455 section 5.5: control frames carry at most 125 bytes, and are never fragmented. */
const MAX_CONTROL_PAYLOAD_BYTES = 125;

/** A client frame's header, once it has come whole. */
interface FrameHeader {
  opcode: number;
  final: boolean;
  mask: Uint8Array;
  length: number;
}

/**
 * Turns the bytes a WebSocket client sends into messages, whatever the read
 * boundaries, and enforces what RFC 6455 asks of a server: every client frame
 * masked, no reserved bits (no extension is negotiated), control frames short and
 * whole, fragments in order. Text messages are refused at their first header,
 * before their bytes are read: the protocol is binary protobuf.
 *
 * A message larger than the limit is refused by its announced length, so a client
 * cannot make the server hold more than one frame's worth of the limit.
 */
export class WebSocketFrameDecoder {
  readonly #maxMessageBytes: number;
  readonly #header = new Uint8Array(MAX_HEADER_BYTES);
  #headerFilled = 0;
  /** The frame whose payload is arriving, once its header is complete. */
  #frame: FrameHeader | undefined;
  /** Its payload so far, when it spans reads. */
  #payload: Uint8Array | undefined;
  #payloadFilled = 0;
  /**
   * The fragments of a binary message whose final frame has not come, one after another in
   * one buffer that grows as they come (one object per fragment would cost far more than
   * the bytes: a million empty ones, gigabytes). Undefined between messages.
   */
  #fragments: Uint8Array | undefined;
  #fragmentBytes = 0;
  #fragmentCount = 0;
  /** Messages are no longer wanted (the connection is closing): their bytes are not kept. */
  #discarding = false;
  #closed = false;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** True while a frame, or a fragmented message, has begun but not ended. */
  get hasPartialFrame(): boolean {
    return this.#headerFilled > 0 || this.#frame !== undefined || this.#fragments !== undefined;
  }

  /**
   * From now on messages are read only to find the peer's close frame: they are neither
   * kept nor handed on, so a peer that goes on sending while we close costs no memory.
   */
  discardMessages(): void {
    this.#discarding = true;
    this.#fragments &&= EMPTY;
  }

  /**
   * Feeds bytes in, and calls the handlers for every complete message, in order.
   * Unmasks `chunk` in place. Throws, after which the stream cannot be read on:
   * WebSocketProtocolError when it breaks RFC 6455, FrameTooLargeError for a message over
   * the limit, MalformedMessageError for text.
   */
  push(chunk: Uint8Array, handlers: WebSocketMessageHandlers): void {
    let offset = 0;
    while (offset < chunk.length && !this.#closed) {
      if (this.#frame === undefined) {
        offset = this.#readHeader(chunk, offset);
        const frame = this.#frame as FrameHeader | undefined;
        if (frame === undefined) return;
        // A frame wholly inside the chunk is unmasked there, and handed on with no copy.
        if (chunk.length - offset >= frame.length) {
          const payload = chunk.subarray(offset, offset + frame.length);
          unmask(payload, frame.mask, 0);
          offset += frame.length;
          this.#complete(payload, handlers);
          continue;
        }
        this.#payload = new Uint8Array(frame.length);
        this.#payloadFilled = 0;
      }
      const payload = this.#payload!;
      const taken = Math.min(payload.length - this.#payloadFilled, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + taken);
      unmask(piece, this.#frame!.mask, this.#payloadFilled);
      payload.set(piece, this.#payloadFilled);
      this.#payloadFilled += taken;
      offset += taken;
      if (this.#payloadFilled < payload.length) return;
      this.#payload = undefined;
      this.#complete(payload, handlers);
    }
  }

  /** Gathers header bytes, and sets #frame once the header is whole. Returns the new offset. */
  #readHeader(chunk: Uint8Array, offset: number): number {
    const header = this.#header;
    while (offset < chunk.length) {
      header[this.#headerFilled++] = chunk[offset++];
      // Checked as soon as the first two bytes are in, before anything else is read.
      if (this.#headerFilled === 2) this.#checkStart(header);
      const size = headerSize(header, this.#headerFilled);
      if (this.#headerFilled < size) continue;
      this.#headerFilled = 0;
      const frame = {
        opcode: header[0] & 0x0f,
        final: (header[0] & 0x80) !== 0,
        mask: header.slice(size - 4, size),
        length: payloadLength(header),
      };
      if (frame.opcode < WebSocketOpcode.close) this.#checkMessageLength(frame.length);
      this.#frame = frame;
      return offset;
    }
    return offset;
  }

  #checkStart(header: Uint8Array): void {
    const final = (header[0] & 0x80) !== 0;
    const opcode = header[0] & 0x0f;
    const length = header[1] & 0x7f;
    if ((header[0] & 0x70) !== 0) throw new WebSocketProtocolError("reserved bits are set");
    if ((header[1] & 0x80) === 0) throw new WebSocketProtocolError("a client frame is not masked");
    if (opcode < WebSocketOpcode.close) return this.#checkDataFrame(opcode);
    if (
      opcode !== WebSocketOpcode.close && opcode !== WebSocketOpcode.ping &&
      opcode !== WebSocketOpcode.pong
    ) {
      throw new WebSocketProtocolError(`unknown opcode ${opcode}`);
    }
    if (!final) throw new WebSocketProtocolError("a control frame is fragmented");
    if (length > MAX_CONTROL_PAYLOAD_BYTES) {
      throw new WebSocketProtocolError("a control frame holds over 125 bytes");
    }
    if (opcode === WebSocketOpcode.close && length === 1) {
      throw new WebSocketProtocolError("a close frame holds 1 byte");
    }
  }

  #checkDataFrame(opcode: number): void {
    if (opcode === WebSocketOpcode.continuation) {
      if (this.#fragments === undefined) {
        throw new WebSocketProtocolError("a continuation begins no message");
      }
    } else if (this.#fragments !== undefined) {
      throw new WebSocketProtocolError("a new message began before the last one ended");
    } else if (opcode === WebSocketOpcode.text) {
      // Refused before its bytes arrive: Deno's own WebSocket took 64 MiB of text, and a
      // refusal the client could repeat would let it fill the server's memory with it.
      throw new MalformedMessageError(
        "Cannot parse frame: a text message is not part of the protocol; send binary protobuf",
      );
    } else if (opcode !== WebSocketOpcode.binary) {
      throw new WebSocketProtocolError(`unknown opcode ${opcode}`);
    }
  }

  /**
   * By the announced length, so that an oversized message is refused before its bytes come;
   * and by its fragments, which cost a frame's work each even when empty.
   */
  #checkMessageLength(length: number): void {
    const total = this.#fragmentBytes + length;
    if (total > this.#maxMessageBytes) {
      throw new FrameTooLargeError(
        `Cannot parse frame: length ${total} exceeds ${this.#maxMessageBytes} bytes`,
      );
    }
    if (this.#fragmentCount >= MAX_FRAGMENTS) {
      throw new FrameTooLargeError(
        `Cannot parse frame: a message comes in over ${MAX_FRAGMENTS} fragments`,
      );
    }
  }

  #complete(payload: Uint8Array, handlers: WebSocketMessageHandlers): void {
    const { opcode, final } = this.#frame!;
    this.#frame = undefined;
    switch (opcode) {
      case WebSocketOpcode.ping:
        return handlers.ping(payload);
      case WebSocketOpcode.pong:
        return;
      case WebSocketOpcode.close:
        this.#closed = true;
        return handlers.close(closeCode(payload));
    }
    if (final && this.#fragments === undefined) {
      if (!this.#discarding) handlers.binary(payload);
      return;
    }
    // A fragment may be a view of the read buffer: kept, it must be copied.
    this.#fragments = this.#discarding
      ? EMPTY
      : append(this.#fragments ?? EMPTY, this.#fragmentBytes, payload, this.#maxMessageBytes);
    this.#fragmentBytes += payload.length;
    this.#fragmentCount++;
    if (!final) return;
    const message = this.#fragments.subarray(0, this.#fragmentBytes);
    this.#fragments = undefined;
    this.#fragmentBytes = 0;
    this.#fragmentCount = 0;
    if (!this.#discarding) handlers.binary(message);
  }
}

/**
 * The code a close frame carries, checked as RFC 6455 sections 5.5.1 and 7.4 ask: one a
 * peer may send (1005, 1006 and 1015 only ever describe a close, and 1016-2999 are not
 * assigned), and a reason in UTF-8.
 */
function closeCode(payload: Uint8Array): number {
  if (payload.length < 2) return NO_STATUS_CODE;
  const code = (payload[0] << 8) | payload[1];
  const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
  if (!sendable) throw new WebSocketProtocolError(`a close frame carries code ${code}`);
  try {
    STRICT_UTF8.decode(payload.subarray(2));
  } catch {
    throw new WebSocketProtocolError("a close frame's reason is not UTF-8");
  }
  return code;
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

const EMPTY = new Uint8Array(0);

/**
 * `bytes` after the first `filled` bytes of `buffer`: in place when they fit, else in a new
 * buffer twice as large (at most `limit`, which the decoder has checked the total against).
 */
function append(buffer: Uint8Array, filled: number, bytes: Uint8Array, limit: number): Uint8Array {
  let out = buffer;
  if (filled + bytes.length > buffer.length) {
    out = new Uint8Array(Math.min(limit, Math.max(filled + bytes.length, buffer.length * 2, 256)));
    out.set(buffer.subarray(0, filled));
  }
  out.set(bytes, filled);
  return out;
}

/** The header's full size, as far as its first `filled` bytes tell (at least 2). */
function headerSize(header: Uint8Array, filled: number): number {
  if (filled < 2) return 2;
  const short = header[1] & 0x7f;
  const extended = short === 126 ? 2 : short === 127 ? 8 : 0;
  // Every client frame has a 4-byte mask: #checkStart refuses one without.
  return 2 + extended + 4;
}

function payloadLength(header: Uint8Array): number {
  const short = header[1] & 0x7f;
  if (short < 126) return short;
  if (short === 126) return (header[2] << 8) | header[3];
  // 64 bits, of which JavaScript numbers hold 53: the top ones must be zero in any frame we take.
  const high = ((header[2] << 24) | (header[3] << 16) | (header[4] << 8) | header[5]) >>> 0;
  const low = ((header[6] << 24) | (header[7] << 16) | (header[8] << 8) | header[9]) >>> 0;
  if (high >= 0x200000) return Number.MAX_SAFE_INTEGER;
  return high * 0x100000000 + low;
}

/** XORs `bytes` with the mask, as if they began `position` bytes into the payload. */
function unmask(bytes: Uint8Array, mask: Uint8Array, position: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] ^= mask[(position + i) & 3];
}
