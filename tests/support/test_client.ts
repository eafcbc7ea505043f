import {
  type Presence,
  PresenceKind,
  type ServerMessage,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import {
  type ClientMessageInit,
  decodeServerMessage,
  encodeClientMessage,
} from "../../lib/protocol/codec.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { deadline } from "./deadline.ts";

type Case = NonNullable<ServerMessage["body"]["case"]>;
type BodyOf<C extends Case> = Extract<ServerMessage["body"], { case: C }>["value"];

/**
 * A raw protocol client for tests: it writes frames exactly as told (or raw bytes)
 * and records every message, so tests check the server, not our client library.
 */
export class TestClient implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  /** Every message received, in order. */
  readonly received: ServerMessage[] = [];
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  welcome!: Welcome;
  #cursor = 0;
  #wake: (() => void) | undefined;
  #ended = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    conn.setNoDelay(true);
    this.closed = this.#read();
  }

  /** Connects and waits for the Welcome (unless `expectWelcome` is false). */
  static async connect(port: number, expectWelcome = true): Promise<TestClient> {
    const client = new TestClient(await Deno.connect({ hostname: "127.0.0.1", port }));
    if (expectWelcome) client.welcome = await client.next("welcome");
    return client;
  }

  get sessionId(): bigint {
    return this.welcome.sessionId;
  }

  send(...messages: ClientMessageInit[]): Promise<void> {
    return this.sendRaw(encodeFrames(messages.map(encodeClientMessage)));
  }

  async sendRaw(bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  /**
   * The next message of this kind, skipping (but keeping in `received`) any other
   * kind, such as presence from other tests' clients.
   */
  async next<C extends Case>(kind: C, ms = 10_000): Promise<BodyOf<C>> {
    const message = await this.nextMatching((m) => m.body.case === kind, ms, kind);
    return message.body.value as BodyOf<C>;
  }

  /** The next `count` messages of this kind, under one deadline. */
  take<C extends Case>(kind: C, count: number, ms = 10_000): Promise<BodyOf<C>[]> {
    const taken = (async () => {
      const bodies: BodyOf<C>[] = [];
      while (bodies.length < count) {
        const message = await this.#scan((m) => m.body.case === kind);
        bodies.push(message.body.value as BodyOf<C>);
      }
      return bodies;
    })();
    return deadline(taken, ms, () => `${count} x ${kind}; received so far: ${this.#summary()}`);
  }

  /** The next Presence of this kind. */
  async nextPresence(kind: PresenceKind, ms = 10_000): Promise<Presence> {
    const message = await this.nextMatching(
      (m) => m.body.case === "presence" && m.body.value.kind === kind,
      ms,
      `presence ${PresenceKind[kind]}`,
    );
    return message.body.value as Presence;
  }

  /** The next message that satisfies `test`, waiting up to `ms`. */
  nextMatching(
    test: (message: ServerMessage) => boolean,
    ms = 10_000,
    what = "a matching message",
  ): Promise<ServerMessage> {
    return deadline(this.#scan(test), ms, () => `${what}; received so far: ${this.#summary()}`);
  }

  async #scan(test: (message: ServerMessage) => boolean): Promise<ServerMessage> {
    while (true) {
      while (this.#cursor < this.received.length) {
        const message = this.received[this.#cursor++];
        if (test(message)) return message;
      }
      if (this.#ended) throw new Error("connection closed");
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Waits until any message received so far, skipped ones included, satisfies `test`. */
  async seen(test: (message: ServerMessage) => boolean, ms = 10_000): Promise<ServerMessage> {
    const found = this.received.find(test);
    if (found !== undefined) return found;
    return await this.nextMatching(test, ms);
  }

  #summary(): string {
    const counts = new Map<string, number>();
    for (const message of this.received) {
      const kind = message.body.case ?? "empty";
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    return [...counts].map(([kind, count]) => `${count} x ${kind}`).join(", ") || "nothing";
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const count = await this.conn.read(buffer);
        if (count === null) break;
        decoder.push(buffer.subarray(0, count), (payload) => {
          this.received.push(decodeServerMessage(payload));
        });
        this.#wake?.();
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
      this.#ended = true;
      this.#wake?.();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#ended) this.conn.close();
    await this.closed;
  }
}
