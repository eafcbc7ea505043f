import type { ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import {
  type ClientMessageInit,
  decodeServerMessage,
  encodeClientMessage,
} from "../protocol/codec.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { OutboundQueue } from "../net/outbound_queue.ts";
import { TcpTransport } from "../net/tcp_transport.ts";
import { describeError } from "../util/describe_error.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { describeNetworkError } from "./describe_network_error.ts";
import { ConnectError } from "./errors.ts";

/** Server frames can be far larger than client ones: a WhoResponse lists everyone. */
const MAX_SERVER_FRAME_BYTES = 16 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 2_000;

/** One TCP connection to a chat server, speaking frames of ClientMessage / ServerMessage. */
export class ChatConnection {
  /** "127.0.0.1:8080" */
  readonly address: string;
  readonly #transport: TcpTransport;
  readonly #queue: OutboundQueue;
  #failure: string | undefined;

  private constructor(address: string, conn: Deno.TcpConn) {
    this.address = address;
    this.#transport = new TcpTransport(conn, MAX_SERVER_FRAME_BYTES);
    this.#queue = new OutboundQueue(this.#transport, {
      writeFailed: (error) => {
        this.#failure ??= `write failed: ${describeNetworkError(error)}`;
        this.#transport.close();
      },
    });
  }

  /** Connects, or throws ConnectError with a reason a person can act on. */
  static async open(hostname: string, port: number): Promise<ChatConnection> {
    const address = formatHostPort(hostname, port);
    const connecting = Deno.connect({ hostname, port, transport: "tcp" });
    let conn: Deno.TcpConn | undefined;
    let failure: unknown;
    const settled = await waitAtMost(
      connecting.then((c) => conn = c, (error) => failure = error),
      CONNECT_TIMEOUT_MS,
    );
    if (!settled) {
      // Close the connection if it completes after we gave up on it.
      connecting.then((c) => c.close(), () => {});
      throw new ConnectError(`Cannot connect to ${address}: timed out`);
    }
    if (conn === undefined) {
      throw new ConnectError(`Cannot connect to ${address}: ${describeNetworkError(failure)}`, {
        cause: failure,
        // Run without --allow-net: no retry will be granted what the first was not.
        final: failure instanceof Deno.errors.NotCapable,
      });
    }
    return new ChatConnection(address, conn);
  }

  /** Queues a message; messages sent in the same tick share one write. */
  send(message: ClientMessageInit): void {
    this.#queue.push(encodeClientMessage(message));
  }

  /** Reads until the connection ends; resolves with why it ended, in plain words. */
  async run(onMessage: (message: ServerMessage) => void): Promise<string> {
    try {
      await this.#transport.receive({
        frame: (payload) => {
          // Frames already read when the connection was given up on are not delivered.
          if (this.#failure !== undefined) return;
          let message: ServerMessage;
          try {
            message = decodeServerMessage(payload);
          } catch (error) {
            this.abort(`the server sent an invalid message (${describeError(error)})`);
            return;
          }
          onMessage(message);
        },
        framingError: (error) => this.abort(`the server sent an invalid frame (${error.message})`),
      });
      return this.#failure ?? "the server closed the connection";
    } catch (error) {
      return this.#failure ?? `connection lost (${describeNetworkError(error)})`;
    } finally {
      this.#queue.stop();
      this.#transport.close();
    }
  }

  /** Closes at once; `run` resolves with `reason`. */
  abort(reason: string): void {
    this.#failure ??= reason;
    this.#transport.close();
  }

  /** Sends what is queued, then closes; at once if the server does not take it in time. */
  async close(): Promise<void> {
    this.#failure ??= "closed";
    if (await waitAtMost(this.#queue.drained(), CLOSE_TIMEOUT_MS)) {
      await waitAtMost(this.#transport.closeWrite(), CLOSE_TIMEOUT_MS);
    }
    this.#transport.close();
  }
}
