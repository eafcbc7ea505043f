import type { StreamConn } from "./stream_conn.ts";

/**
 * Shuts our sending side, then reads and drops what the peer still sends until it closes:
 * closing with its input unread would reset the connection, and could destroy our last
 * answer before the peer reads it. The caller bounds the wait (a timer that closes `conn`).
 */
export async function shutAndDrain(conn: StreamConn): Promise<void> {
  await conn.closeWrite();
  const sink = new Uint8Array(1024);
  while (await conn.read(sink) !== null) {
    // Dropped.
  }
}
