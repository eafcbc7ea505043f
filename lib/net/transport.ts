/** What a Transport calls as input arrives. */
export interface ReceiveHandlers {
  /** One complete frame payload, in order; only valid during the call. */
  frame(payload: Uint8Array): void;
  /**
   * The byte stream cannot be framed (FrameTooLargeError). Called at most once;
   * input after it is read and discarded until the connection ends.
   */
  framingError(error: Error): void;
  /**
   * While the server is behind on its writes, a promise that resolves when reading may go
   * on: what is not read stays in the kernel, and TCP slows the peer down. Undefined while
   * reading may go on now.
   */
  readHold?(): Promise<void> | undefined;
  /**
   * The first bytes read, before any framing, once: to tell a peer speaking another protocol
   * (a TLS server's alert) from a broken one. Only valid during the call. Transports over a
   * byte stream call it; a WebSocket's is framed before it gets here.
   */
  firstBytes?(bytes: Uint8Array): void;
}

/**
 * One client connection, whatever carries it (TCP today, WebSocket later). It owns
 * the socket and its framing; sessions only ever see whole frame payloads.
 */
export interface Transport {
  /** What carries it, for logs and metrics. */
  readonly kind: "tcp" | "websocket";
  /** The peer's address, for logs: "127.0.0.1:53412". */
  readonly peer: string;
  /** The peer's IP address alone, for per-address limits: "127.0.0.1". */
  readonly remoteHostname: string;
  /**
   * Whether what the peer sends is encrypted on its way: TLS, or a WebSocket whose HTTPS a
   * proxy on this host ended. Passwords are taken only then (or --allow-plaintext-passwords).
   */
  readonly encrypted: boolean;
  /** Bytes received and sent so far, for the server's counters. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** True while a frame has begun arriving but is not complete. */
  readonly hasPartialFrame: boolean;
  /** Reads until the peer closes or `close` is called (resolves), or the connection breaks (rejects). */
  receive(handlers: ReceiveHandlers): Promise<void>;
  /**
   * Writes these runs of whole frames (each a varint length, then the payload), in order,
   * completely. The caller never has two writes in flight.
   */
  write(framed: readonly Uint8Array[]): Promise<void>;
  /** Tells the peer we will send nothing more, and keeps reading. Never throws. */
  closeWrite(): Promise<void>;
  /**
   * Closes the connection; a pending receive resolves. Safe to call twice. The socket
   * may take a bounded while longer to close (a WebSocket's close handshake): see `released`.
   */
  close(): void;
  /**
   * Resolves once the socket is really closed, after close(); absent when close() closes it
   * at once. The server counts a connection toward its caps until then.
   */
  readonly released?: Promise<void>;
}
