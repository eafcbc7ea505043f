import {
  Action,
  ErrorCode,
  PresenceKind,
  type ServerMessage,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import { VERSION } from "../version.ts";
import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
import { ChatConnection } from "./chat_connection.ts";
import { ConnectError } from "./errors.ts";
import { Outbox } from "./outbox.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import type { ClientMessageInit } from "../protocol/codec.ts";

/** What happens to a client, in order. Consumers (terminal UI, scripts, load tool) render these. */
export type ClientEvent =
  | { type: "connecting"; address: string; attempt: number }
  /** retryInMs is undefined when the client gives up. */
  | { type: "connect_failed"; error: ConnectError; retryInMs?: number }
  /** requestedNickname: the nickname asked for in the Hello just sent ("" for none). */
  | { type: "connected"; welcome: Welcome; requestedNickname: string }
  /**
   * A message from the server. RATE_LIMITED refusals of lines that the client sends
   * again are not passed on: only the last, when it gives up on the line.
   */
  | { type: "message"; message: ServerMessage }
  /** A request made with chat(), setNickname(), who() or ping() has left the outbox. */
  | { type: "sent"; message: ClientMessageInit }
  /**
   * retryInMs is undefined when the client will not reconnect. unsent: requests
   * that were still waiting in the outbox, and are dropped.
   */
  | { type: "disconnected"; reason: string; retryInMs?: number; unsent: number };

export interface ChatClientOptions {
  /** @default "127.0.0.1" */
  hostname?: string;
  /** @default 8080 */
  port?: number;
  /** Asked for after every Welcome; empty keeps the guest name the server assigns. @default "" */
  nickname?: string;
  /** Connection attempts in a row before giving up, until the first Welcome. @default 5 */
  connectAttempts?: number;
  /** Reconnect, for as long as it takes, when an established connection drops. @default true */
  reconnect?: boolean;
  /**
   * After this long without sending anything, the client pings, so the server's
   * idle timeout (120 s by default) never cuts a person who is only reading. @default 30000
   */
  keepaliveMs?: number;
  /** How long a new connection may take to send Welcome, in ms. @default 10000 */
  welcomeTimeoutMs?: number;
  /** @default 500 ms doubling up to 8 s, with jitter */
  backoff?: BackoffOptions;
  /** Receives every event, synchronously. */
  onEvent: (event: ClientEvent) => void;
}

/** Keepalive pings use nonces from here up, apart from the ones a user asks for. */
const KEEPALIVE_NONCE_BASE = 1n << 62n;

/** A connection up this long resets the backoff: the server is healthy again. */
const STABLE_CONNECTION_MS = 10_000;

export const CLIENT_NAME = `deno-chat-client/${VERSION}`;

/**
 * A chat client that stays connected: it retries with backoff, re-sends its
 * nickname after a reconnect, and turns the connection's life into ClientEvents.
 * Requests go out in order through an Outbox, which keeps chat lines under the
 * server's rate limit: none is refused for going too fast.
 */
export class ChatClient {
  readonly hostname: string;
  readonly port: number;
  readonly #options: Required<Omit<ChatClientOptions, "hostname" | "port">>;
  #connection: ChatConnection | undefined;
  #welcome: Welcome | undefined;
  /** Made at each Welcome, from the limits it advertises. */
  #outbox: Outbox | undefined;
  #nickname: string;
  /** The Hello sent after Welcome asked for #nickname, and no answer has come yet. */
  #nicknameAsked = false;
  #nextSeq = 1n;
  #nextKeepaliveNonce = KEEPALIVE_NONCE_BASE;
  #lastSentAt = 0;
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
      welcomeTimeoutMs: options.welcomeTimeoutMs ?? 10_000,
      keepaliveMs: options.keepaliveMs ?? 30_000,
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

  /** The longest chat line the server takes, in UTF-8 bytes, once connected. */
  get maxContentBytes(): number | undefined {
    return this.#welcome?.maxContentBytes;
  }

  /** Requests waiting in the outbox, not sent yet. */
  get unsent(): number {
    return this.#outbox?.unsent ?? 0;
  }

  /**
   * Queues a chat line, sent as soon as the rate limit allows; returns its
   * client_seq, or undefined when not connected.
   */
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

  /**
   * Sends what has left the outbox, drops what still waits in it (`unsent`),
   * disconnects and stops reconnecting.
   */
  async close(): Promise<void> {
    this.#stopped = true;
    this.#outbox?.[Symbol.dispose]();
    this.#wakeFromBackoff?.();
    await this.#connection?.close();
    await this.done;
  }

  /** Queues a request behind the others; false when not connected. */
  #send(message: ClientMessageInit): boolean {
    if (this.#outbox === undefined) return false;
    this.#outbox.push(message);
    return true;
  }

  #write(connection: ChatConnection, message: ClientMessageInit): void {
    connection.send(message);
    this.#lastSentAt = Date.now();
  }

  /** Pings when nothing was sent for a while, so the server knows we are still here. */
  #keepAlive(connection: ChatConnection): void {
    if (this.#welcome === undefined) return;
    if (Date.now() - this.#lastSentAt < this.#options.keepaliveMs) return;
    // Past the outbox: a line waiting there for the rate limit must not hold this back.
    this.#write(connection, {
      body: { case: "ping", value: { nonce: this.#nextKeepaliveNonce++ } },
    });
  }

  async #run(): Promise<boolean> {
    const address = formatHostPort(this.hostname, this.port);
    let failures = 0;
    let everWelcomed = false;
    while (!this.#stopped) {
      this.#emit({ type: "connecting", address, attempt: failures + 1 });
      let connection: ChatConnection;
      try {
        connection = await ChatConnection.open(this.hostname, this.port);
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        failures++;
        const retryInMs = error.final ? undefined : this.#retryDelay(failures, everWelcomed);
        this.#emit({ type: "connect_failed", error, retryInMs });
        if (retryInMs === undefined) return this.#stopped;
        await this.#pause(retryInMs);
        continue;
      }
      this.#connection = connection;
      if (this.#stopped) await connection.close();
      const connectedAt = Date.now();
      // Something that accepts but never welcomes (a stopped server, another service) is a failure.
      const waitSeconds = this.#options.welcomeTimeoutMs / 1000;
      const welcomeTimer = setTimeout(
        () =>
          connection.abort(
            `no Welcome within ${waitSeconds} s - is it the chat port (not the HTTP port for browsers)?`,
          ),
        this.#options.welcomeTimeoutMs,
      );
      this.#lastSentAt = Date.now();
      const keepalive = setInterval(
        () => this.#keepAlive(connection),
        this.#options.keepaliveMs / 3,
      );
      const reason = await connection.run((message) => {
        if (message.body.case === "welcome") clearTimeout(welcomeTimer);
        this.#receive(connection, message);
      });
      clearTimeout(welcomeTimer);
      clearInterval(keepalive);
      const welcomed = this.#welcome !== undefined;
      everWelcomed ||= welcomed;
      const unsent = this.unsent;
      this.#outbox?.[Symbol.dispose]();
      this.#outbox = undefined;
      this.#connection = undefined;
      this.#welcome = undefined;
      if (this.#stopped) return true;
      // Only a connection that stayed up a while shows the server is healthy again.
      failures = welcomed && Date.now() - connectedAt >= STABLE_CONNECTION_MS ? 0 : failures + 1;
      const retryInMs = this.#options.reconnect || !everWelcomed
        ? this.#retryDelay(failures, everWelcomed)
        : undefined;
      if (welcomed) this.#emit({ type: "disconnected", reason, retryInMs, unsent });
      else {
        // Never a chat session: a failed attempt to connect, told as one.
        const error = new ConnectError(`Cannot connect to ${address}: ${reason}`);
        this.#emit({ type: "connect_failed", error, retryInMs });
      }
      if (retryInMs === undefined) return false;
      await this.#pause(retryInMs);
    }
    return true;
  }

  /**
   * Before the first Welcome the address may simply be wrong, so the client gives
   * up after `connectAttempts`; after it, the server is known to exist and the
   * client keeps trying, ever more slowly.
   */
  #retryDelay(failures: number, everWelcomed: boolean): number | undefined {
    if (this.#stopped) return undefined;
    if (!everWelcomed && failures >= this.#options.connectAttempts) return undefined;
    return backoffDelay(Math.max(1, failures), this.#options.backoff);
  }

  #receive(connection: ChatConnection, message: ServerMessage): void {
    const body = message.body;
    if (body.case === "welcome") {
      this.#welcome = body.value;
      // An empty nickname keeps the guest name; the client name is logged either way.
      this.#write(connection, {
        body: { case: "hello", value: { nickname: this.#nickname, client: CLIENT_NAME } },
      });
      this.#nicknameAsked = this.#nickname !== "";
      this.#outbox?.[Symbol.dispose]();
      this.#outbox = new Outbox({
        write: (message) => this.#write(connection, message),
        sent: (message) => this.#emit({ type: "sent", message }),
        ratePerSecond: body.value.rateLimitPerSecond,
        burst: body.value.rateBurst,
      });
      this.#emit({ type: "connected", welcome: body.value, requestedNickname: this.#nickname });
      return;
    }
    if (this.#outbox?.receive(message, this.#welcome!.sessionId)) return;
    if (
      body.case === "presence" && body.value.kind === PresenceKind.RENAMED &&
      this.#welcome !== undefined && body.value.sessionId === this.#welcome.sessionId
    ) {
      this.#welcome.nickname = body.value.nickname;
      this.#nickname = body.value.nickname;
      this.#nicknameAsked = false;
    } else if (
      this.#nicknameAsked && body.case === "error" &&
      (body.value.code === ErrorCode.NICKNAME_TAKEN ||
        body.value.code === ErrorCode.NICKNAME_INVALID)
    ) {
      // Refused for good: asking again after a reconnect could take the name from its owner
      // while they reconnect. The client keeps the guest name it is given.
      this.#nickname = "";
      this.#nicknameAsked = false;
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
