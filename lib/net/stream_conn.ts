/** A connection the server or client reads frames from: plain TCP, or TLS over it. */
export type StreamConn = Deno.TcpConn | Deno.TlsConn;

/** Whether the connection is TLS: only a TlsConn has a handshake. */
export function isTls(conn: StreamConn): conn is Deno.TlsConn {
  return "handshake" in conn;
}

/**
 * Chat frames are small and latency matters more than packet count (no Nagle), and a peer
 * whose network vanished without a FIN is found out (keepalive). A TlsConn accepted by
 * Deno.listenTls offers neither; a client's, upgraded from a TcpConn, has them from it.
 */
export function tuneConn(conn: StreamConn): void {
  if (isTls(conn)) return;
  conn.setNoDelay(true);
  conn.setKeepAlive(true);
}
