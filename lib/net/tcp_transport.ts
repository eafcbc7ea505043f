import { allocateBytes } from "../protocol/allocate_bytes.ts";
import { FrameTooLargeError } from "../protocol/errors.ts";
import { FrameDecoder } from "../protocol/frame_decoder.ts";
import { formatHostPort } from "./format_host_port.ts";
import { POISON_BUFFERS, poisonBuffer } from "./poison_buffer.ts";
import { nextReadBuffer, SMALLEST_READ_BYTES } from "./read_buffer_size.ts";
import { isTls, type StreamConn, tuneConn } from "./stream_conn.ts";
import { isTlsHello, TlsOnPlainPortError } from "./tls_hello.ts";
import type { ReceiveHandlers, Transport } from "./transport.ts";
import { writeAll } from "./write_all.ts";

/** A Transport over a TCP connection, plain or TLS, with varint-length-delimited frames. */
export class TcpTransport implements Transport {
  readonly kind = "tcp";
  readonly peer: string;
  readonly remoteHostname: string;
  readonly encrypted: boolean;
  bytesRead = 0;
  bytesWritten = 0;
  readonly #conn: StreamConn;
  readonly #decoder: FrameDecoder;
  #closed = false;

  constructor(conn: StreamConn, maxFrameBytes: number) {
    this.#conn = conn;
    this.encrypted = isTls(conn);
    this.#decoder = new FrameDecoder(maxFrameBytes);
    this.remoteHostname = conn.remoteAddr.hostname;
    this.peer = formatHostPort(conn.remoteAddr.hostname, conn.remoteAddr.port);
    tuneConn(conn);
  }

  get hasPartialFrame(): boolean {
    return this.#decoder.hasPartialFrame;
  }

  /**
   * Reads frames until the peer closes. On a plain-text connection, throws
   * TlsOnPlainPortError if the stream opens with a TLS ClientHello: its bytes are no frame.
   */
  async receive(handlers: ReceiveHandlers): Promise<void> {
    let buffer = new Uint8Array(SMALLEST_READ_BYTES);
    let framed = true;
    // The stream's first byte, until its second has come too; -2 once there is nothing to check.
    let first = this.encrypted ? -2 : -1;
    // Called as a method: `frame` may live on the handlers' prototype. Debugging, a payload
    // is poisoned once handled: it is lent to frame() for the call only (FrameDecoder).
    const onFrame = POISON_BUFFERS
      ? (payload: Uint8Array) => {
        handlers.frame(payload);
        poisonBuffer(payload);
      }
      : (payload: Uint8Array) => handlers.frame(payload);
    while (true) {
      const hold = handlers.readHold?.();
      if (hold !== undefined) await hold;
      let count: number | null;
      try {
        count = await this.#conn.read(buffer);
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
      if (count === null) return;
      if (this.bytesRead === 0) handlers.firstBytes?.(buffer.subarray(0, count));
      this.bytesRead += count;
      if (first !== -2) {
        if (first === -1) first = buffer[0];
        const second = this.bytesRead === count ? buffer[1] : buffer[0];
        if (this.bytesRead >= 2) {
          if (isTlsHello(first, second)) throw new TlsOnPlainPortError();
          first = -2;
        }
      }
      if (!framed) continue;
      try {
        this.#decoder.push(buffer.subarray(0, count), onFrame);
      } catch (error) {
        if (!(error instanceof FrameTooLargeError)) throw error;
        framed = false;
        handlers.framingError(error);
      }
      // Nothing may keep a view of the buffer past push(): debugging, it is poisoned now.
      poisonBuffer(buffer.subarray(0, count));
      // The decoder copies what it keeps, so the buffer can be swapped between reads.
      buffer = nextReadBuffer(buffer, count);
    }
  }

  write(framed: readonly Uint8Array[]): Promise<void> {
    // Nearly always one run, the log's frames since the last write: no async layer of its
    // own. The caller reuses the array, so it is read now, not after an await.
    if (framed.length === 1) return writeAll(this.#conn, framed[0], this.#counted);
    return this.#writeEach(coalesce(framed));
  }

  async #writeEach(writes: readonly Uint8Array[]): Promise<void> {
    for (const bytes of writes) await writeAll(this.#conn, bytes, this.#counted);
  }

  /** Made once: a closure per write would be garbage per write. */
  readonly #counted = (count: number) => void (this.bytesWritten += count);

  async closeWrite(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#conn.closeWrite();
    } catch {
      // The peer is already gone; close() follows.
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime after a reset.
    }
  }
}

/**
 * Runs of bytes worth one write each. A write costs far more than copying a few kilobytes,
 * so small runs (a reply, a log view) are joined; large ones (a log segment a lagging
 * session catches up on) go out as they are, with no copy.
 */
function coalesce(framed: readonly Uint8Array[]): Uint8Array[] {
  const writes: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const endRun = () => {
    if (run.length === 1) writes.push(run[0]);
    else if (run.length > 1) writes.push(concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const bytes of framed) {
    if (bytes.length >= COPY_LIMIT) {
      endRun();
      writes.push(bytes);
      continue;
    }
    if (runBytes + bytes.length > COPY_LIMIT) endRun();
    run.push(bytes);
    runBytes += bytes.length;
  }
  endRun();
  return writes;
}

/** Runs shorter than this are copied together rather than written one by one. */
const COPY_LIMIT = 16 * 1024;

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const out = allocateBytes(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
