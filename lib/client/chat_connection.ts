import type { ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import {
  type ClientMessageInit,
  decodeServerMessage,
  encodeClientMessage,
} from "../protocol/codec.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { OutboundQueue } from "../net/outbound_queue.ts";
import type { StreamConn } from "../net/stream_conn.ts";
import { TcpTransport } from "../net/tcp_transport.ts";
import { describeError } from "../util/describe_error.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { connectTcp } from "./connect_tcp.ts";
import { describeNetworkError } from "./describe_network_error.ts";
import { isHttpAnswer, probePayload, WEB_PORT } from "./port_probe.ts";
import { type ClientTlsOptions, connectTls } from "./tls_connect.ts";

/** Server frames can be far larger than client ones: a WhoResponse lists everyone. */
const MAX_SERVER_FRAME_BYTES = 16 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * A TLS record's first bytes: an alert (21) or a handshake (22), then major version 3: a
 * plain client meeting a TLS server. No frame starts so: a 21- or 22-byte payload cannot
 * start with 3 (a field numbered 0).
 */
function isTlsRecord(bytes: Uint8Array): boolean {
  return (bytes[0] === 21 || bytes[0] === 22) && bytes[1] === 3;
}

/** One connection to a chat server, TCP or TLS over it, speaking frames of ClientMessage / ServerMessage. */
export class ChatConnection {
  /** "127.0.0.1:8080" */
  readonly address: string;
  readonly #transport: TcpTransport;
  readonly #queue: OutboundQueue;
  #failure: string | undefined;
  #failedForGood = false;

  private constructor(address: string, conn: StreamConn) {
    this.address = address;
    this.#transport = new TcpTransport(conn, MAX_SERVER_FRAME_BYTES);
    this.#queue = new OutboundQueue(this.#transport, {
      writeFailed: (error) => {
        this.#failure ??= `write failed: ${describeNetworkError(error)}`;
        this.#transport.close();
      },
    });
  }

  /**
   * Connects, over TLS when `tls` is given, or throws ConnectError with a reason a person
   * can act on.
   */
  static async open(
    hostname: string,
    port: number,
    tls?: ClientTlsOptions,
  ): Promise<ChatConnection> {
    const address = formatHostPort(hostname, port);
    // The TLS handshake, and the probe of a pinned certificate, count toward the timeout.
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    const conn = tls === undefined
      ? await connectTcp(hostname, port, deadline)
      : await connectTls(hostname, port, tls, deadline);
    return new ChatConnection(address, conn);
  }

  /** Whether the connection is TLS. */
  get encrypted(): boolean {
    return this.#transport.encrypted;
  }

  /** True when the connection failed in a way that trying again cannot fix. */
  get failedForGood(): boolean {
    return this.#failedForGood;
  }

  /**
   * Queues the first frame, a ping that servers of every kind answer (see port_probe.ts): a
   * chat server with its Welcome, a TLS server met in plain text with an alert, a web port
   * with an HTTP response.
   */
  probe(): void {
    this.#queue.push(probePayload());
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
        firstBytes: (bytes) => {
          if (isHttpAnswer(bytes)) {
            this.#failedForGood = true;
            this.abort(WEB_PORT);
          } else if (!this.encrypted && isTlsRecord(bytes)) {
            this.#failedForGood = true;
            this.abort(
              "the server uses TLS: connect with --tls (and --ca or --fingerprint if its " +
                "certificate is self-signed)",
            );
          }
        },
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
