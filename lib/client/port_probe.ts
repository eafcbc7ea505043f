/**
 * Telling what listens on a port by what it answers. A client's first frame is this ping:
 * a chat server answers it (a TLS one with an alert, to a plain client), and it also makes
 * an HTTP server answer at once rather than wait for a request head that never ends: an
 * unknown field of the Ping, which chat servers skip, holds a blank line (CR LF CR LF).
 */
const PROBE_PAYLOAD = [
  26, // ClientMessage.ping, length-delimited
  6,
  122, // field 15 of Ping, unknown to chat servers, length-delimited
  4,
  13,
  10,
  13,
  10,
];

/** The probe's payload, in a buffer of its own, to frame and send. */
export function probePayload(): Uint8Array {
  return new Uint8Array(PROBE_PAYLOAD);
}

/** What the client says when the port it reached answered in HTTP. */
export const WEB_PORT =
  "that is the server's web port (HTTP): connect to its chat port (8080 by default)";

/** Whether a connection's first bytes are an HTTP response: a web port, not a chat port. */
export function isHttpAnswer(bytes: Uint8Array): boolean {
  return new TextDecoder("latin1").decode(bytes.subarray(0, 5)) === "HTTP/";
}

/**
 * Connects in plain text, sends the probe and reads the answer, for at most `ms`: "http"
 * for a web port, "plain" for another answer (a chat server without TLS), undefined for
 * none.
 */
export async function probePlainPort(
  hostname: string,
  port: number,
  ms: number,
): Promise<"http" | "plain" | undefined> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), ms);
  try {
    conn = await Deno.connect({ hostname, port, transport: "tcp" });
    // A payload of 8 bytes: its length, the frame's prefix, is one byte.
    await conn.write(new Uint8Array([PROBE_PAYLOAD.length, ...PROBE_PAYLOAD]));
    const buffer = new Uint8Array(16);
    const count = await conn.read(buffer);
    if (count === null) return undefined;
    return isHttpAnswer(buffer.subarray(0, count)) ? "http" : "plain";
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Closed by the timer.
    }
  }
}
