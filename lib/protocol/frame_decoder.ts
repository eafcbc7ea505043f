import { FrameTooLargeError } from "./errors.ts";
import { MAX_VARINT_PREFIX_BYTES } from "./limits.ts";
import { varint } from "./varint.ts";

/**
 * Splits a byte stream into varint-length-delimited frames, whatever the read
 * boundaries: a read may hold part of a frame, or many frames at once.
 *
 * Payloads handed to `onFrame` may be views into the pushed chunk: they are valid
 * only until `onFrame` returns, which spares a copy per frame. A frame split across
 * reads is gathered into one buffer of its announced size, so a frame trickling in
 * byte by byte costs linear, not quadratic, work.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  /** The length prefix read so far, and how many of its bytes. */
  #length = 0;
  #prefixBytes = 0;
  /** The payload of a frame whose prefix is complete but whose bytes are not. */
  #payload: Uint8Array | undefined;
  #filled = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** True while part of a frame has been received but not all of it. */
  get hasPartialFrame(): boolean {
    return this.#prefixBytes > 0 || this.#payload !== undefined;
  }

  /**
   * Feeds bytes in; calls `onFrame` for every complete frame, in order.
   * Throws FrameTooLargeError on a prefix over 5 bytes or a length over the limit,
   * after which the stream cannot be resynchronised and must be closed.
   */
  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#payload !== undefined) {
        const payload = this.#payload;
        const taken = Math.min(payload.length - this.#filled, chunk.length - offset);
        payload.set(chunk.subarray(offset, offset + taken), this.#filled);
        this.#filled += taken;
        offset += taken;
        if (this.#filled < payload.length) return;
        this.#payload = undefined;
        onFrame(payload);
        continue;
      }
      const byte = chunk[offset++];
      this.#length += (byte & 0x7f) * varint.weight[this.#prefixBytes];
      this.#prefixBytes++;
      if (byte & 0x80) {
        if (this.#prefixBytes === MAX_VARINT_PREFIX_BYTES) {
          throw new FrameTooLargeError(
            `Cannot parse frame: length prefix exceeds ${MAX_VARINT_PREFIX_BYTES} bytes`,
          );
        }
        continue;
      }
      const length = this.#length;
      this.#length = 0;
      this.#prefixBytes = 0;
      if (length > this.#maxFrameBytes) {
        throw new FrameTooLargeError(
          `Cannot parse frame: length ${length} exceeds ${this.#maxFrameBytes} bytes`,
        );
      }
      if (chunk.length - offset >= length) {
        onFrame(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.#payload = new Uint8Array(length);
        this.#filled = 0;
      }
    }
  }
}
