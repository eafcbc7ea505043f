import type { TlsStream } from "../net/stream_conn.ts";
import { describeError } from "../util/describe_error.ts";

/**
 * Completes the TLS handshake of a connection accepted by NodeTlsListener, within
 * `timeoutMs`: one that never finishes (slowloris on the handshake) is closed then. Returns
 * undefined once it is done, or why it failed, in plain words; the connection is closed then.
 */
export async function acceptHandshake(
  conn: TlsStream,
  timeoutMs: number,
): Promise<string | undefined> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    await conn.handshake();
    return undefined;
  } catch (error) {
    closeQuietly(conn);
    return timedOut ? `it did not finish within ${timeoutMs / 1000} s` : handshakeFailure(error);
  } finally {
    clearTimeout(timer);
  }
}

/** Why a handshake failed, as rustls says it, in words an operator can act on. */
export function handshakeFailure(error: unknown): string {
  const message = describeError(error);
  // What rustls says of a first record that is no TLS: a plain-text client.
  if (/InvalidContentType|corrupt message/i.test(message)) {
    return "the client is not speaking TLS (a plain-text client on the TLS port?)";
  }
  const alert = /received fatal alert: (\w+)/.exec(message);
  if (alert !== null) return `the client refused the certificate (${alert[1]})`;
  if (
    error instanceof Deno.errors.UnexpectedEof || error instanceof Deno.errors.ConnectionReset ||
    /eof|peer closed/i.test(message)
  ) {
    return "the client closed the connection during the handshake";
  }
  return message;
}

function closeQuietly(conn: TlsStream): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
