import {
  type ClientMessageInit,
  decodeServerMessage,
  encodeClientMessage,
} from "../../lib/protocol/codec.ts";
import { deadline } from "./deadline.ts";
import { Inbox } from "./inbox.ts";

/** A raw protocol client over WebSocket: one binary message per ClientMessage. */
export class WebSocketTestClient extends Inbox implements AsyncDisposable {
  readonly socket: WebSocket;
  /** Resolves when the connection closes, with its close code. */
  readonly closed: Promise<number>;

  private constructor(socket: WebSocket) {
    super();
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => {
      this.deliver(decodeServerMessage(new Uint8Array(event.data as ArrayBuffer)));
    });
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        this.end();
        resolve(event.code);
      });
    });
  }

  /** Opens `ws://127.0.0.1:<port>/ws` (sending `origin` if given) and waits for the Welcome. */
  static async connect(port: number, origin?: string): Promise<WebSocketTestClient> {
    const socket = new WebSocket(
      `ws://127.0.0.1:${port}/ws`,
      // Deno lets a WebSocket send headers, so a test can pose as another site's page.
      origin === undefined ? undefined : { headers: { origin } } as unknown as string[],
    );
    const client = new WebSocketTestClient(socket);
    const opened = new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error("the WebSocket did not open")), {
        once: true,
      });
    });
    await deadline(opened, 10_000, "the WebSocket to open");
    client.welcome = await client.next("welcome");
    return client;
  }

  send(...messages: ClientMessageInit[]): void {
    for (const message of messages) this.socket.send(encodeClientMessage(message));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.ended) this.socket.close();
    await this.closed;
  }
}
