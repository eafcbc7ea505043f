import type { ClientMessage } from "../../gen/chat/v1/chat_pb.ts";
import {
  decodeClientMessage,
  encodeServerMessage,
  type ServerMessageInit,
} from "../../lib/protocol/codec.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { deadline } from "./deadline.ts";

type Case = NonNullable<ClientMessage["body"]["case"]>;
type BodyOf<C extends Case> = Extract<ClientMessage["body"], { case: C }>["value"];

/**
 * A chat server whose every frame the test writes: on a free loopback port, it hands each
 * connection to the test, which reads what the client sends and answers as it likes (a
 * Welcome, live events before a join's history, a dropped connection). For testing a
 * client's side of the protocol without a real server.
 */
export class ScriptedServer implements AsyncDisposable {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #waiting: ScriptedConnection[] = [];
  readonly #all = new Set<ScriptedConnection>();
  #wake: (() => void) | undefined;
  readonly #accepting: Promise<void>;

  constructor() {
    this.#accepting = (async () => {
      try {
        for await (const conn of this.#listener) {
          const connection = new ScriptedConnection(conn);
          this.#all.add(connection);
          this.#waiting.push(connection);
          this.#wake?.();
        }
      } catch {
        // Closed by dispose.
      }
    })();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  /** The next connection the client makes. */
  accept(ms = 10_000): Promise<ScriptedConnection> {
    return deadline(
      (async () => {
        while (this.#waiting.length === 0) {
          await new Promise<void>((resolve) => this.#wake = resolve);
        }
        return this.#waiting.shift()!;
      })(),
      ms,
      "a connection to the scripted server",
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const connection of this.#all) connection.close();
    await this.#accepting;
  }
}

/** One client connection: what it sent, in order, and a way to answer. */
export class ScriptedConnection {
  readonly #conn: Deno.Conn;
  /** Every message the client sent on this connection, in order. */
  readonly received: ClientMessage[] = [];
  #cursor = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#read();
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder(1 << 20);
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const count = await this.#conn.read(buffer);
        if (count === null) break;
        decoder.push(buffer.subarray(0, count), (payload) => {
          this.received.push(decodeClientMessage(payload));
          this.#wake?.();
        });
      }
    } catch {
      // Closed by either side.
    }
    this.#ended = true;
    this.#wake?.();
  }

  /** Sends these messages, in order, in one write. */
  async send(...messages: ServerMessageInit[]): Promise<void> {
    const bytes = encodeFrames(messages.map(encodeServerMessage));
    for (let written = 0; written < bytes.length;) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }

  /** The next message of this kind the client sent, skipping (but keeping) others. */
  next<C extends Case>(kind: C, ms = 10_000): Promise<BodyOf<C>> {
    return deadline(
      (async () => {
        while (true) {
          while (this.#cursor < this.received.length) {
            const message = this.received[this.#cursor++];
            if (message.body.case === kind) return message.body.value as BodyOf<C>;
          }
          if (this.#ended) throw new Error(`the connection ended before a ${kind} came`);
          await new Promise<void>((resolve) => this.#wake = resolve);
        }
      })(),
      ms,
      () => `a ${kind} from the client; it sent ${this.received.map((m) => m.body.case)}`,
    );
  }

  /** Drops the connection, as a server that went away. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}
