import {
  Action,
  PresenceKind,
  type ServerMessage,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import { VERSION } from "../version.ts";
import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
import { ChatConnection } from "./chat_connection.ts";
import { ConnectError } from "./errors.ts";

/** What happens to a client, in order. Consumers (terminal UI, scripts, load tool) render these. */
export type ClientEvent =
  | { type: "connecting"; address: string; attempt: number }
  /** retryInMs is undefined when the client gives up. */
  | { type: "connect_failed"; error: ConnectError; retryInMs?: number }
  | { type: "connected"; welcome: Welcome }
  | { type: "message"; message: ServerMessage }
  /** retryInMs is undefined when the client will not reconnect. */
  | { type: "disconnected"; reason: string; retryInMs?: number };

export interface ChatClientOptions {
  /** @default "127.0.0.1" */
  hostname?: string;
  /** @default 8080 */
  port?: number;
  /** Asked for after every Welcome; empty keeps the guest name the server assigns. @default "" */
  nickname?: string;
  /** Connection attempts in a row before giving up. @default 5 */
  connectAttempts?: number;
  /** Reconnect when an established connection drops. @default true */
  reconnect?: boolean;
  /** @default 500 ms doubling up to 8 s, with jitter */
  backoff?: BackoffOptions;
  /** Receives every event, synchronously. */
  onEvent: (event: ClientEvent) => void;
}

export const CLIENT_NAME = `deno-chat-client/${VERSION}`;

/**
 * A chat client that stays connected: it retries with backoff, re-sends its
 * nickname after a reconnect, and turns the connection's life into ClientEvents.
 */
export class ChatClient {
  readonly hostname: string;
  readonly port: number;
  readonly #options: Required<Omit<ChatClientOptions, "hostname" | "port">>;
  #connection: ChatConnection | undefined;
  #welcome: Welcome | undefined;
  #nickname: string;
  #nextSeq = 1n;
  #stopped = false;
  #wakeFromBackoff: (() => void) | undefined;
  /** Settles when the client stops: true after close(), false after giving up. */
  readonly done: Promise<boolean>;

  constructor(options: ChatClientOptions) {
    this.hostname = options.hostname ?? "127.0.0.1";
    this.port = options.port ?? 8080;
    this.#options = {
      nickname: options.nickname ?? "",
      connectAttempts: options.connectAttempts ?? 5,
      reconnect: options.reconnect ?? true,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      onEvent: options.onEvent,
    };
    this.#nickname = this.#options.nickname;
    this.done = this.#run();
  }

  /** True between Welcome and the connection's end. */
  get isConnected(): boolean {
    return this.#welcome !== undefined;
  }

  get sessionId(): bigint | undefined {
    return this.#welcome?.sessionId;
  }

  /** The nickname the server knows us by, once connected. */
  get nickname(): string | undefined {
    return this.#welcome?.nickname;
  }

  /** The Welcome of the current connection. */
  get welcome(): Welcome | undefined {
    return this.#welcome;
  }

  /** Sends a chat line; returns its client_seq, or undefined when not connected. */
  chat(content: string, action: Action): bigint | undefined {
    const clientSeq = this.#nextSeq++;
    const sent = this.#send({ body: { case: "chat", value: { content, action, clientSeq } } });
    return sent ? clientSeq : undefined;
  }

  /** Asks for a nickname, kept for reconnects once the server accepts it. */
  setNickname(nickname: string): boolean {
    return this.#send({ body: { case: "hello", value: { nickname, client: CLIENT_NAME } } });
  }

  who(): boolean {
    return this.#send({ body: { case: "who", value: {} } });
  }

  ping(nonce: bigint): boolean {
    return this.#send({ body: { case: "ping", value: { nonce } } });
  }

  /** Sends what is queued, disconnects and stops reconnecting. */
  async close(): Promise<void> {
    this.#stopped = true;
    this.#wakeFromBackoff?.();
    await this.#connection?.close();
    await this.done;
  }

  #send(message: Parameters<ChatConnection["send"]>[0]): boolean {
    if (this.#connection === undefined || this.#welcome === undefined) return false;
    this.#connection.send(message);
    return true;
  }

  async #run(): Promise<boolean> {
    let failures = 0;
    while (!this.#stopped) {
      const attempt = failures + 1;
      this.#emit({ type: "connecting", address: `${this.hostname}:${this.port}`, attempt });
      let connection: ChatConnection;
      try {
        connection = await ChatConnection.open(this.hostname, this.port);
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        failures++;
        const retry = failures < this.#options.connectAttempts && !this.#stopped;
        const retryInMs = retry ? backoffDelay(failures, this.#options.backoff) : undefined;
        this.#emit({ type: "connect_failed", error, retryInMs });
        if (retryInMs === undefined) return this.#stopped;
        await this.#pause(retryInMs);
        continue;
      }
      this.#connection = connection;
      if (this.#stopped) await connection.close();
      const reason = await connection.run((message) => this.#receive(connection, message));
      const wasWelcomed = this.#welcome !== undefined;
      this.#connection = undefined;
      this.#welcome = undefined;
      // A connection that got as far as Welcome resets the count of failures.
      failures = wasWelcomed ? 0 : failures + 1;
      const retry = !this.#stopped && this.#options.reconnect &&
        failures < this.#options.connectAttempts;
      const retryInMs = retry
        ? backoffDelay(Math.max(1, failures), this.#options.backoff)
        : undefined;
      if (!this.#stopped) this.#emit({ type: "disconnected", reason, retryInMs });
      if (retryInMs === undefined) return this.#stopped;
      await this.#pause(retryInMs);
    }
    return true;
  }

  #receive(connection: ChatConnection, message: ServerMessage): void {
    const body = message.body;
    if (body.case === "welcome") {
      this.#welcome = body.value;
      // An empty nickname keeps the guest name; the client name is logged either way.
      connection.send({
        body: { case: "hello", value: { nickname: this.#nickname, client: CLIENT_NAME } },
      });
      this.#emit({ type: "connected", welcome: body.value });
      return;
    }
    if (
      body.case === "presence" && body.value.kind === PresenceKind.RENAMED &&
      this.#welcome !== undefined && body.value.sessionId === this.#welcome.sessionId
    ) {
      this.#welcome.nickname = body.value.nickname;
      this.#nickname = body.value.nickname;
    }
    this.#emit({ type: "message", message });
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeFromBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #emit(event: ClientEvent): void {
    this.#options.onEvent(event);
  }
}
