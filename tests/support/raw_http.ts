import assert from "node:assert/strict";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import { deadline } from "./deadline.ts";
import { websocketAccept } from "./websocket_accept.ts";
import { HttpResponseHead } from "./http_response_head.ts";
import { type ServerFrame, ServerFrameReader } from "./websocket_server_frame_reader.ts";

/** A connection to the HTTP port, written and read byte by byte, as an attacker or a probe. */
export class RawHttpConnection implements Disposable {
  readonly conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  #eof = false;
  readonly #reader = new ServerFrameReader();
  readonly #frames: ServerFrame[] = [];

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Takes over a connection already open. */
  static of(conn: Deno.TcpConn): RawHttpConnection {
    return new RawHttpConnection(conn);
  }

  static async open(port: number): Promise<RawHttpConnection> {
    return new RawHttpConnection(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** A WebSocket by hand on the HTTP port: the upgrade, its 101, and the Welcome. */
  static async webSocket(httpPort: number): Promise<RawHttpConnection> {
    const socket = await RawHttpConnection.open(httpPort);
    await socket.write(upgradeRequest(httpPort));
    const { head } = await socket.response();
    assert.equal(head.status, 101);
    assert.equal(head.headers.get("sec-websocket-accept"), await websocketAccept(UPGRADE_KEY));
    const [welcome] = await socket.frames(() => true);
    assert.equal(decodeServerMessage(welcome.payload).body.case, "welcome");
    return socket;
  }

  async write(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    for (let written = 0; written < bytes.length;) {
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  /** A response's head and its Content-Length body, within `ms`. */
  response(ms = 5000): Promise<{ head: HttpResponseHead; body: string }> {
    return deadline(this.#response(), ms, "an HTTP response");
  }

  async #response(): Promise<{ head: HttpResponseHead; body: string }> {
    let head: HttpResponseHead | undefined;
    while ((head = HttpResponseHead.parse(this.#buffer)) === undefined) await this.#fill();
    const length = Number(head.headers.get("content-length") ?? 0);
    while (this.#buffer.length < head.size + length) await this.#fill();
    const body = new TextDecoder().decode(this.#buffer.subarray(head.size, head.size + length));
    this.#buffer = this.#buffer.slice(head.size + length);
    return { head, body };
  }

  /** Resolves once the server closes the connection (EOF or reset), within `ms`. */
  closed(ms: number): Promise<void> {
    return deadline(
      (async () => {
        try {
          while (!this.#eof) await this.#fill();
        } catch {
          // A reset is a close too.
        }
      })(),
      ms,
      "the server to close the connection",
    );
  }

  /**
   * WebSocket frames from the server (after the handshake's response has been read), up
   * to and including the first that `until` accepts; those after it wait for the next call.
   */
  async frames(until: (frame: ServerFrame) => boolean, ms = 5000): Promise<ServerFrame[]> {
    const taken: ServerFrame[] = [];
    const found = () => {
      while (this.#frames.length > 0) {
        const frame = this.#frames.shift()!;
        taken.push(frame);
        if (until(frame)) return true;
      }
      return false;
    };
    const read = async () => {
      while (!found()) {
        if (this.#buffer.length === 0) await this.#fill();
        const bytes = this.#buffer;
        this.#buffer = new Uint8Array(0);
        this.#reader.push(bytes, (frame) => this.#frames.push(frame));
      }
    };
    await deadline(
      read(),
      ms,
      () => `WebSocket frames (got opcodes ${taken.map((frame) => frame.opcode).join(", ")})`,
    );
    return taken;
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    const count = await this.conn.read(chunk);
    if (count === null) {
      this.#eof = true;
      throw new Error("the server closed the connection");
    }
    const joined = new Uint8Array(this.#buffer.length + count);
    joined.set(this.#buffer);
    joined.set(chunk.subarray(0, count), this.#buffer.length);
    this.#buffer = joined;
  }

  [Symbol.dispose](): void {
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
  }
}

/** A GET request's text; `headers` as lines such as "Connection: close". */
export function getRequest(path: string, port: number, headers: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...headers, "", ""].join("\r\n");
}

/** The Sec-WebSocket-Key of upgradeRequest: RFC 6455's own example. */
export const UPGRADE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** A WebSocket upgrade request for /ws, as a non-browser client sends it. */
export function upgradeRequest(port: number): string {
  return getRequest("/ws", port, [
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${UPGRADE_KEY}`,
    "Sec-WebSocket-Version: 13",
  ]);
}

/** Prometheus text exposition, as name{labels} -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-z_]+(?:\{[^}]*\})?) (-?[\d.e+-]+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    samples.set(match[1], Number(match[2]));
  }
  return samples;
}

/** /metrics, scraped on a connection of its own. */
export async function scrapeMetrics(port: number): Promise<Map<string, number>> {
  using probe = await RawHttpConnection.open(port);
  await probe.write(getRequest("/metrics", port, ["Connection: close"]));
  const { head, body } = await probe.response();
  if (head.status !== 200) throw new Error(`/metrics answered ${head.status}: ${body}`);
  return parseMetrics(body);
}
