/** One WebSocket frame as the server sent it, with nothing checked but its framing. */
export interface ServerFrame {
  opcode: number;
  final: boolean;
  /** RSV1 to RSV3 as a 3-bit number. */
  reserved: number;
  /** A server must never mask (RFC 6455 section 5.1); the payload here is unmasked anyway. */
  masked: boolean;
  payload: Uint8Array;
}

/** Longer than any frame a chat server sends: a length over it is taken for garbage. */
const MAX_SERVER_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Splits the bytes a server sends a WebSocket client into frames, whatever the read
 * boundaries. It judges nothing (the caller does), except a length no server sends.
 */
export class ServerFrameReader {
  #buffer = new Uint8Array(0);

  /** True while part of a frame has come but not all of it. */
  get hasPartialFrame(): boolean {
    return this.#buffer.length > 0;
  }

  /**
   * Feeds bytes in; calls `onFrame` for every complete frame, in order. Throws on a
   * length over 64 MiB, after which the stream cannot be read on.
   */
  push(chunk: Uint8Array, onFrame: (frame: ServerFrame) => void): void {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    let offset = 0;
    while (true) {
      const frame = this.#parse(joined, offset);
      if (frame === undefined) break;
      offset = frame.end;
      onFrame(frame.frame);
    }
    this.#buffer = joined.slice(offset);
  }

  #parse(bytes: Uint8Array, start: number): { frame: ServerFrame; end: number } | undefined {
    if (bytes.length - start < 2) return undefined;
    const short = bytes[start + 1] & 0x7f;
    const masked = (bytes[start + 1] & 0x80) !== 0;
    const extended = short === 126 ? 2 : short === 127 ? 8 : 0;
    const headerSize = 2 + extended + (masked ? 4 : 0);
    if (bytes.length - start < headerSize) return undefined;
    let length = short;
    if (extended > 0) {
      length = 0;
      for (let i = 0; i < extended; i++) length = length * 256 + bytes[start + 2 + i];
    }
    if (length > MAX_SERVER_FRAME_BYTES) {
      throw new Error(`Cannot read WebSocket frame: length ${length} exceeds 64 MiB`);
    }
    const end = start + headerSize + length;
    if (bytes.length < end) return undefined;
    const payload = bytes.slice(start + headerSize, end);
    if (masked) {
      const mask = bytes.subarray(start + headerSize - 4, start + headerSize);
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    }
    return {
      frame: {
        opcode: bytes[start] & 0x0f,
        final: (bytes[start] & 0x80) !== 0,
        reserved: (bytes[start] >> 4) & 7,
        masked,
        payload,
      },
      end,
    };
  }
}
