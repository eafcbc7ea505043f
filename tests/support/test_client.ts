import {
  type ClientMessageInit,
  decodeServerMessage,
  encodeClientMessage,
} from "../../lib/protocol/codec.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { isTls, type StreamConn } from "../../lib/net/stream_conn.ts";
import { Inbox } from "./inbox.ts";

/**
 * A raw protocol client for tests: it writes frames exactly as told (or raw bytes)
 * and records every message, so tests check the server, not our client library.
 */
export class TestClient extends Inbox implements AsyncDisposable {
  readonly conn: StreamConn;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;

  private constructor(conn: StreamConn) {
    super();
    this.conn = conn;
    if (!isTls(conn)) conn.setNoDelay(true);
    this.closed = this.#read();
  }

  /** Connects and waits for the Welcome (unless `expectWelcome` is false). */
  static async connect(port: number, expectWelcome = true): Promise<TestClient> {
    const client = new TestClient(await Deno.connect({ hostname: "127.0.0.1", port }));
    if (expectWelcome) client.welcome = await client.next("welcome");
    return client;
  }

  /** Connects over TLS, trusting `caCerts` (PEM), and waits for the Welcome unless told not to. */
  static async connectTls(
    port: number,
    caCerts: string[],
    expectWelcome = true,
  ): Promise<TestClient> {
    const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts });
    const client = new TestClient(conn);
    if (expectWelcome) client.welcome = await client.next("welcome");
    return client;
  }

  send(...messages: ClientMessageInit[]): Promise<void> {
    return this.sendRaw(encodeFrames(messages.map(encodeClientMessage)));
  }

  async sendRaw(bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const count = await this.conn.read(buffer);
        if (count === null) break;
        decoder.push(buffer.subarray(0, count), (payload) => {
          this.deliver(decodeServerMessage(payload));
        });
      }
    } catch {
      // A reset ends the connection like a close does.
    } finally {
      // Like a real client: once the server is done, so are we.
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
      this.end();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.ended) this.conn.close();
    await this.closed;
  }
}

/** Connects `count` clients to `port`, one after another, each disposed with `stack`. */
export async function connectMany(
  stack: AsyncDisposableStack,
  port: number,
  count: number,
): Promise<TestClient[]> {
  const clients = [];
  for (let i = 0; i < count; i++) clients.push(stack.use(await TestClient.connect(port)));
  return clients;
}
