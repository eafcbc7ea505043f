import { allocateBytes } from "../protocol/allocate_bytes.ts";
import { FrameTooLargeError, MalformedMessageError } from "../protocol/errors.ts";
import { formatHostPort } from "./format_host_port.ts";
import { poisonBuffer } from "./poison_buffer.ts";
import { nextReadBuffer, SMALLEST_READ_BYTES } from "./read_buffer_size.ts";
import type { ReceiveHandlers, Transport } from "./transport.ts";
import { writeAll } from "./write_all.ts";
import { type StreamConn, tuneConn } from "./stream_conn.ts";
import { varint } from "../protocol/varint.ts";
import { WebSocketFrameDecoder, type WebSocketMessageHandlers } from "./websocket_frame_decoder.ts";
import { WebSocketOpcode } from "./websocket_opcode.ts";
import { WebSocketProtocolError } from "./websocket_protocol_error.ts";

/** RFC 6455 section 7.4.1 close codes. */
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_TOO_BIG = 1009;

/**
 * Once our close frame refusing a peer's input is out, how long what it still sends is read
 * and dropped before the socket goes: RFC 6455 section 7.1.7 fails such a connection at once,
 * but a close with unread input could reset it before the peer has read why.
 */
const FAIL_LINGER_MS = 1000;

/**
 * Bytes of messages framed for one write. A WebSocket session frames the broadcast log's
 * frames anew, in memory of its own: framed a piece at a time, when each piece's turn to
 * be written comes, a session that stopped reading holds one piece, not its whole lag.
 */
const WRITE_PIECE_BYTES = 64 * 1024;

export interface WebSocketTransportOptions {
  /**
   * Whether what the peer sends is encrypted on its way: over HTTPS, or through a proxy on
   * this host that ended HTTPS (the gateway decides which to believe).
   */
  encrypted: boolean;
  /** The largest message taken, refused by its announced length: the protocol's largest frame. */
  maxMessageBytes: number;
  /** How long after our close frame the peer has to answer it before the socket is aborted. */
  closeHandshakeTimeoutMs: number;
}

/**
 * A Transport over a server-side WebSocket on a raw TCP connection whose handshake is
 * done: one binary message is one frame, with no length prefix. The browser client and
 * any WebSocket client speak it.
 *
 * It owns the socket to the end: close() sends a close frame and gives the peer a bounded
 * while to answer, then aborts the connection, and `released` says when it is gone, so a
 * peer that never answers cannot keep its socket once its session is over.
 */
export class WebSocketTransport implements Transport {
  readonly kind = "websocket";
  readonly peer: string;
  readonly remoteHostname: string;
  readonly encrypted: boolean;
  bytesRead = 0;
  bytesWritten = 0;
  readonly #conn: StreamConn;
  readonly #decoder: WebSocketFrameDecoder;
  readonly #closeHandshakeTimeoutMs: number;
  /** Bytes that came after the handshake's request, in the same reads. */
  #early: Uint8Array | undefined;
  #handlers: ReceiveHandlers | undefined;
  /** What the decoder calls; one object per connection. */
  readonly #messages: WebSocketMessageHandlers = {
    binary: (payload) => {
      this.#handlers!.frame(payload);
      // Lent to frame() for the call only, as the TCP transport's frames are: debugging, poisoned.
      poisonBuffer(payload);
    },
    ping: (payload) => this.#ping(payload),
    close: () => this.#peerClosed(),
  };
  /** The tail of the writes: each begins once the one before it has settled. */
  #writing: Promise<void> = Promise.resolve();
  #writesPending = 0;
  /** The code our close frame carries: 1000, or why the peer's input was refused. */
  #closeCode = CLOSE_NORMAL;
  /** The payload of the pong waiting to be written, if one is. */
  #pong: Uint8Array | undefined;
  #closeSent: Promise<void> | undefined;
  /** The peer will send nothing more: its close frame or its FIN came. */
  #peerDone = false;
  #closing = false;
  #aborted = false;
  #abortTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends receive(): when the peer is done, or when close() is called. */
  readonly #ended = Promise.withResolvers<void>();
  readonly #released = Promise.withResolvers<void>();

  constructor(conn: StreamConn, early: Uint8Array, options: WebSocketTransportOptions) {
    this.#conn = conn;
    this.encrypted = options.encrypted;
    this.#early = early.length > 0 ? early : undefined;
    this.#decoder = new WebSocketFrameDecoder(options.maxMessageBytes);
    this.#closeHandshakeTimeoutMs = options.closeHandshakeTimeoutMs;
    this.remoteHostname = conn.remoteAddr.hostname;
    this.peer = formatHostPort(conn.remoteAddr.hostname, conn.remoteAddr.port);
    this.#ended.promise.catch(() => {}); // Only receive()'s caller cares.
    try {
      tuneConn(conn);
    } catch {
      // Reset already: the first read says so.
    }
  }

  get hasPartialFrame(): boolean {
    return this.#decoder.hasPartialFrame;
  }

  get released(): Promise<void> {
    return this.#released.promise;
  }

  receive(handlers: ReceiveHandlers): Promise<void> {
    this.#handlers = handlers;
    this.#read().then(
      () => this.#ended.resolve(),
      (error) => {
        this.#abort();
        this.#ended.reject(error);
      },
    );
    return this.#ended.promise;
  }

  async #read(): Promise<void> {
    let buffer = new Uint8Array(SMALLEST_READ_BYTES);
    if (this.#early !== undefined) {
      const early = this.#early;
      this.#early = undefined;
      this.bytesRead += early.length;
      this.#decode(early);
    }
    while (!this.#peerDone) {
      const hold = this.#handlers!.readHold?.();
      if (hold !== undefined) await hold;
      let count: number | null;
      try {
        count = await this.#conn.read(buffer);
      } catch (error) {
        if (this.#aborted) return;
        throw error;
      }
      if (count === null) {
        this.#peerDone = true;
        // Nothing more will come: once we have said what we had to, the socket can go.
        if (this.#closing) this.#abortAfterClose();
        return;
      }
      this.bytesRead += count;
      this.#decode(buffer.subarray(0, count));
      // Nothing may keep a view of the buffer past the decode: debugging, it is poisoned now.
      poisonBuffer(buffer.subarray(0, count));
      // The decoder copies what it keeps, so the buffer can be swapped between reads.
      buffer = nextReadBuffer(buffer, count);
    }
  }

  /** Input after a refusal is read and dropped until the close: its frames cannot be trusted. */
  #decode(bytes: Uint8Array): void {
    if (this.#closeCode !== CLOSE_NORMAL) return;
    try {
      this.#decoder.push(bytes, this.#messages);
    } catch (error) {
      if (error instanceof FrameTooLargeError) this.#closeCode = CLOSE_TOO_BIG;
      else if (error instanceof WebSocketProtocolError) this.#closeCode = CLOSE_PROTOCOL_ERROR;
      else if (error instanceof MalformedMessageError) this.#closeCode = CLOSE_UNSUPPORTED_DATA;
      else throw error;
      // The session sends its fatal error frame, then closes: our close frame carries the code.
      this.#handlers!.framingError(error);
    }
  }

  /**
   * Answered behind any write in flight. Pings that come while a pong waits get that one pong,
   * with the latest payload (RFC 6455 section 5.5.3 allows it): a client that pings and never
   * reads must not pile up pongs in the server's memory.
   */
  #ping(payload: Uint8Array): void {
    if (this.#closeSent !== undefined || this.#aborted) return;
    const waiting = this.#pong !== undefined;
    this.#pong = payload.slice();
    if (waiting) return;
    this.#send(() => {
      const frame = encodeServerFrame(WebSocketOpcode.pong, this.#pong!);
      this.#pong = undefined;
      return frame;
    }).catch(() => {});
  }

  /** The peer began or answered the close handshake: it sends nothing more. */
  #peerClosed(): void {
    this.#peerDone = true;
    if (this.#closing) this.#abortAfterClose();
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    // The session is over: what the peer still sends is read only for its close frame.
    this.#decoder.discardMessages();
    this.#ended.resolve();
    if (this.#aborted) return;
    // A write still in flight has stalled (the session waited for it): a close frame could
    // only go out behind it, so there is nothing to wait for.
    if (this.#writesPending > 0 && this.#closeSent === undefined) return this.#abort();
    this.#sendClose();
    if (this.#peerDone) this.#abortAfterClose();
  }

  write(framed: readonly Uint8Array[]): Promise<void> {
    if (this.#closeSent !== undefined || this.#aborted) {
      return Promise.reject(new Error("the WebSocket is closing"));
    }
    // Copied: the caller reuses the array (the runs themselves are the log's, and stay).
    return this.#sendPieces(pieces(framed.slice()));
  }

  /** Frames and writes one piece at a time, each once the one before it is written. */
  async #sendPieces(pieces: Iterator<Uint8Array[]>): Promise<void> {
    for (let piece = pieces.next(); !piece.done; piece = pieces.next()) {
      await this.#send(encodeServerFrames(piece.value));
    }
  }

  closeWrite(): Promise<void> {
    // WebSocket has no half-close: our close frame, which the peer answers before it closes.
    if (this.#aborted) return Promise.resolve();
    return this.#sendClose();
  }

  #sendClose(): Promise<void> {
    if (this.#closeSent === undefined) {
      const code = new Uint8Array([this.#closeCode >> 8, this.#closeCode & 0xff]);
      // A peer whose input was refused gets no handshake: our FIN follows the close frame.
      const failing = this.#closeCode !== CLOSE_NORMAL;
      this.#closeSent = this.#send(encodeServerFrame(WebSocketOpcode.close, code))
        .then(() => failing ? this.#conn.closeWrite() : undefined)
        .catch(() => this.#abort());
      // From now on the peer has a bounded while to answer; then the socket goes anyway.
      this.#abortTimer = setTimeout(
        () => this.#abort(),
        failing
          ? Math.min(FAIL_LINGER_MS, this.#closeHandshakeTimeoutMs)
          : this.#closeHandshakeTimeoutMs,
      );
    }
    return this.#closeSent;
  }

  /** Both sides are done once our close frame is out: the server closes the TCP connection first. */
  #abortAfterClose(): void {
    (this.#closeSent ?? Promise.resolve()).then(() => this.#abort());
  }

  #abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    clearTimeout(this.#abortTimer);
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime after a reset.
    }
    this.#ended.resolve();
    this.#released.resolve();
  }

  /**
   * Writes `bytes` completely once every earlier write has settled: never two in flight. A
   * function gives the bytes when their turn comes.
   */
  #send(bytes: Uint8Array | (() => Uint8Array)): Promise<void> {
    this.#writesPending++;
    const written = this.#writing.then(() =>
      this.#writeAll(typeof bytes === "function" ? bytes() : bytes)
    );
    this.#writing = written.then(
      () => void this.#writesPending--,
      () => void this.#writesPending--,
    );
    return written;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    if (this.#aborted) throw new Error("the WebSocket is closed");
    await writeAll(this.#conn, bytes, (count) => this.bytesWritten += count);
  }
}

/**
 * The payloads of varint-framed runs, a piece of at most WRITE_PIECE_BYTES at a time (a
 * larger payload is a piece of its own), found only as each piece is asked for. The runs
 * are the server's own, of whole frames.
 */
function* pieces(framed: readonly Uint8Array[]): Generator<Uint8Array[]> {
  let piece: Uint8Array[] = [];
  let bytes = 0;
  for (const run of framed) {
    for (let offset = 0; offset < run.length;) {
      const [length, start] = varint.read32(run, offset)!;
      const payload = run.subarray(start, start + length);
      offset = start + length;
      if (piece.length > 0 && bytes + payload.length > WRITE_PIECE_BYTES) {
        yield piece;
        piece = [];
        bytes = 0;
      }
      piece.push(payload);
      bytes += payload.length;
    }
  }
  if (piece.length > 0) yield piece;
}

/**
 * Every payload as an unmasked binary WebSocket message, in one buffer for one write. The
 * payloads are views of the shared broadcast log: the browser gets one message per frame,
 * so the bytes are framed anew for each WebSocket session.
 */
function encodeServerFrames(payloads: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const payload of payloads) size += headerSize(payload.length) + payload.length;
  const out = allocateBytes(size);
  let offset = 0;
  for (const payload of payloads) {
    offset = writeHeader(out, offset, WebSocketOpcode.binary, payload.length);
    out.set(payload, offset);
    offset += payload.length;
  }
  return out;
}

function encodeServerFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(headerSize(payload.length) + payload.length);
  out.set(payload, writeHeader(out, 0, opcode, payload.length));
  return out;
}

function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** A final, unmasked frame's header (RFC 6455 section 5.2); returns where the payload goes. */
function writeHeader(out: Uint8Array, offset: number, opcode: number, length: number): number {
  out[offset++] = 0x80 | opcode;
  if (length < 126) {
    out[offset++] = length;
  } else if (length < 65536) {
    out[offset++] = 126;
    out[offset++] = length >> 8;
    out[offset++] = length & 0xff;
  } else {
    out[offset++] = 127;
    // Lengths here fit in 32 bits: the top four bytes stay zero.
    offset += 4;
    out[offset++] = (length >>> 24) & 0xff;
    out[offset++] = (length >>> 16) & 0xff;
    out[offset++] = (length >>> 8) & 0xff;
    out[offset++] = length & 0xff;
  }
  return offset;
}
