/**
 * A TLS connection as the chat and HTTP code use it: a Deno.TlsConn (the client's, from
 * Deno.startTls), or a NodeTlsConn (the server's, accepted by NodeTlsListener).
 */
export interface TlsStream {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.Addr;
  /** Resolves once the handshake is done; rejects when it fails. */
  handshake(): Promise<unknown>;
  /**
   * The server's side: resolves true once input is waiting, false when the peer closes first,
   * true after `ms` either way. Reads nothing.
   */
  firstInput?(ms: number): Promise<boolean>;
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** A connection the server or client reads frames from: plain TCP, or TLS over it. */
export type StreamConn = Deno.TcpConn | TlsStream;

/** Whether the connection is TLS: only a TLS connection has a handshake. */
export function isTls(conn: StreamConn): conn is TlsStream {
  return "handshake" in conn;
}

/**
 * Chat frames are small and latency matters more than packet count (no Nagle), and a peer
 * whose network vanished without a FIN is found out (keepalive). A TLS connection has them
 * from the TCP socket it was made on.
 */
export function tuneConn(conn: StreamConn): void {
  if (isTls(conn)) return;
  conn.setNoDelay(true);
  conn.setKeepAlive(true);
}
