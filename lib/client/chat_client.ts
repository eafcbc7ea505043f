import { create } from "@bufbuild/protobuf";
import {
  AccountChange,
  Action,
  type ChatEvent,
  ErrorCode,
  PresenceKind,
  type ServerMessage,
  ServerMessageSchema,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import { VERSION } from "../version.ts";
import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.ts";
import { ChatConnection } from "./chat_connection.ts";
import { ConnectError } from "./errors.ts";
import type { ClientTlsOptions } from "./tls_connect.ts";
import { Outbox } from "./outbox.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import type { ClientMessageInit } from "../protocol/codec.ts";
import { LOBBY, roomKey } from "../protocol/room_name.ts";
import { type JoinToSend, RoomTracker, type TrackedOutput } from "./room_tracker.ts";
import {
  type AnsweredRequest,
  ERRORS_ANSWERING,
  NICKNAME_REFUSED,
  type RequestKind,
} from "./answered_request.ts";

export type { AnsweredRequest, RequestKind };

/** What happens to a client, in order. Consumers (terminal UI, scripts, load tool) render these. */
export type ClientEvent =
  | { type: "connecting"; address: string; attempt: number }
  /** retryInMs is undefined when the client gives up. */
  | { type: "connect_failed"; error: ConnectError; retryInMs?: number }
  /**
   * requestedNickname: the nickname asked for in the Hello just sent ("" for none);
   * identifying: the Hello carries the password, so it is answered as an "identify" request.
   */
  | { type: "connected"; welcome: Welcome; requestedNickname: string; identifying: boolean }
  /**
   * The Hello just sent went without the password it was due to carry: the connection is
   * not encrypted and the server does not take passwords on it (Welcome.passwords_accepted).
   * Follows "connected".
   */
  | { type: "password_withheld"; address: string }
  /**
   * The server admits registered users only (Welcome.account_required) and no password is
   * known: anything but a Hello with one would end the session, so nothing is sent until
   * logIn() gives the nickname and password (or close()). `nickname`: the one asked for, ""
   * for none. Comes instead of "connected", which follows logIn().
   */
  | { type: "login_required"; address: string; nickname: string }
  /**
   * A message from the server other than a ChatEvent (those come as "chat"). RATE_LIMITED
   * refusals of lines that the client sends again are not passed on: only the last, when
   * it gives up on the line. A nickname change that comes once per shared room is passed
   * on once. A HistoryEnd's count is the number of its messages passed on as "chat" events
   * (a request sent before messages on their way came brings some of them again).
   * `answers`: the request it answers (a RoomJoined, a WhoResponse, an error about a
   * join...), when it answers one.
   */
  | { type: "message"; message: ServerMessage; answers?: AnsweredRequest }
  /**
   * A chat message to show, in order: each numbered message of a room once, live or from
   * history (event.history), those a join brings shown after it ends (RoomJoined, passed on
   * first as a "message"). room: the room's key, lower case; undefined for echo and private.
   */
  | { type: "chat"; event: ChatEvent; room: string | undefined }
  /** `missed` messages of `room`, sent while the client was away, are no longer kept. */
  | { type: "gap"; room: string; missed: bigint }
  /** The room that chat() sends to changed: a join, a part, select(), a refused join. */
  | { type: "room"; current: string | undefined }
  /** A request made through a method (chat(), who(), join()...) has left the outbox. */
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
  /**
   * The password of `nickname`'s account, to identify with: the Hello after every Welcome
   * carries it, when the server takes passwords on the connection (never otherwise). Kept in
   * memory only. @default "" (none: a guest, or an unregistered nickname)
   */
  password?: string;
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
  /**
   * Ask for the lobby's recent messages at the first connect (they come as "chat" events
   * with history set). Rooms are resumed after a reconnect either way. @default true
   */
  lobbyHistory?: boolean;
  /**
   * Connect over TLS, verifying the server through the root store and `tls.caCerts`, or
   * against the pinned `tls.fingerprint`; never in plain text instead. @default undefined:
   * plain TCP
   */
  tls?: ClientTlsOptions;
  /** Receives every event, synchronously. */
  onEvent: (event: ClientEvent) => void;
}

/** Keepalive pings use nonces from here up, apart from the ones a user asks for. */
const KEEPALIVE_NONCE_BASE = 1n << 62n;

/** Renames remembered, to pass on once a rename that comes once per shared room. */
const MAX_RENAMES_REMEMBERED = 1_000;

/** A connection up this long resets the backoff: the server is healthy again. */
const STABLE_CONNECTION_MS = 10_000;

export const CLIENT_NAME = `deno-chat-client/${VERSION}`;

/**
 * A chat client that stays connected: it retries with backoff, re-sends its
 * nickname after a reconnect, and turns the connection's life into ClientEvents.
 * Requests go out in order through an Outbox, which keeps chat lines under the
 * server's rate limit: none is refused for going too fast.
 *
 * Rooms: after the first Welcome it joins #lobby, which every session is in, for its
 * history; after every later one it rejoins its rooms by itself, resuming each from the
 * last message it showed there (a RoomTracker keeps count), so that "chat" events give
 * exactly what was missed, in order, once, or a "gap" event naming what is lost.
 */
export class ChatClient {
  readonly hostname: string;
  readonly port: number;
  readonly #options: Required<Omit<ChatClientOptions, "hostname" | "port" | "tls">>;
  readonly #tls: ClientTlsOptions | undefined;
  #connection: ChatConnection | undefined;
  #welcome: Welcome | undefined;
  /** Made at each Welcome, from the limits it advertises. */
  #outbox: Outbox | undefined;
  #nickname: string;
  /** Sent with #nickname after every Welcome that accepts passwords; "" for none. */
  #password: string;
  /** The last nickname the server said is registered, when the client asked for it. */
  #registeredNickname: string | undefined;
  /**
   * What a nickname or account request asked for, kept out of the request itself (which is
   * passed on in events): the nickname, and the password that holds once it succeeds.
   */
  readonly #asked = new WeakMap<AnsweredRequest, { nickname?: string; password?: string }>();
  /** The server refused the session for good (AUTH_REQUIRED): reconnecting cannot help. */
  #refusedForGood = false;
  /** Welcomed by a server that admits registered users only, and waiting for logIn(). */
  #awaitingLogin: { connection: ChatConnection; welcome: Welcome } | undefined;
  /** Rooms to join once identified: such a server ends a session that joins before. */
  #joinsOwed = false;
  #nextSeq = 1n;
  readonly #rooms: RoomTracker;
  /** Requests that wait for an answer other than a ChatEvent or a Pong, in the order sent. */
  #awaiting: AnsweredRequest[] = [];
  /** Per session id, its last rename (`previous\0new`), to pass each rename on once. */
  readonly #renames = new Map<bigint, string>();
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
      password: options.password ?? "",
      connectAttempts: options.connectAttempts ?? 5,
      reconnect: options.reconnect ?? true,
      welcomeTimeoutMs: options.welcomeTimeoutMs ?? 10_000,
      keepaliveMs: options.keepaliveMs ?? 30_000,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      lobbyHistory: options.lobbyHistory ?? true,
      onEvent: options.onEvent,
    };
    this.#tls = options.tls;
    this.#nickname = this.#options.nickname;
    this.#password = this.#options.password;
    this.#rooms = new RoomTracker({ lobbyHistory: this.#options.lobbyHistory });
    this.done = this.#run();
  }

  /** True between Welcome and the connection's end, unless waiting for logIn(). */
  get isConnected(): boolean {
    return this.#welcome !== undefined && this.#awaitingLogin === undefined;
  }

  /** Whether the server admits registered users only (Welcome.account_required). */
  get accountRequired(): boolean {
    return this.#welcome?.accountRequired ?? false;
  }

  get sessionId(): bigint | undefined {
    return this.#welcome?.sessionId;
  }

  /** The nickname the server knows us by, once connected. */
  get nickname(): string | undefined {
    return this.#welcome?.nickname;
  }

  /** Whether the server takes passwords on this connection; false when not connected. */
  get passwordsAccepted(): boolean {
    return this.#welcome?.passwordsAccepted ?? false;
  }

  /**
   * The last nickname asked for that the server answered is registered (NICKNAME_REGISTERED):
   * the one to identify as. Undefined when none was.
   */
  get registeredNickname(): string | undefined {
    return this.#registeredNickname;
  }

  /** The longest chat line the server takes, in UTF-8 bytes, once connected. */
  get maxContentBytes(): number | undefined {
    return this.#welcome?.maxContentBytes;
  }

  /** The room that chat() sends broadcasts to; undefined when in no room. */
  get currentRoom(): string | undefined {
    return this.#rooms.current;
  }

  /** The rooms the client is in or joining, in the order it joined them (lower case). */
  get joinedRooms(): string[] {
    return this.#rooms.rooms;
  }

  /** True when the client is in `room`, or joining it. */
  inRoom(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** Requests waiting in the outbox, not sent yet. */
  get unsent(): number {
    return this.#outbox?.unsent ?? 0;
  }

  /**
   * Queues a chat line, sent as soon as the rate limit allows; returns its
   * client_seq, or undefined when not connected. A broadcast goes to `room`, by default
   * the current room.
   */
  chat(content: string, action: Action, room?: string): bigint | undefined {
    const clientSeq = this.#nextSeq++;
    // The lobby as "": what servers from before rooms take.
    const key = action === Action.BROADCAST ? roomKey(room ?? this.#rooms.current ?? LOBBY) : LOBBY;
    const sent = this.#send({
      body: {
        case: "chat",
        value: { content, action, clientSeq, room: key === LOBBY ? "" : key },
      },
    });
    return sent ? clientSeq : undefined;
  }

  /** Queues a private message to `nickname`, like a chat line; returns its client_seq. */
  privateMessage(nickname: string, content: string): bigint | undefined {
    const clientSeq = this.#nextSeq++;
    const sent = this.#send({
      body: {
        case: "chat",
        value: { content, action: Action.PRIVATE, clientSeq, toNickname: nickname },
      },
    });
    return sent ? clientSeq : undefined;
  }

  /** Asks for a nickname, kept for reconnects once the server accepts it. */
  setNickname(nickname: string): boolean {
    const request: AnsweredRequest = { kind: "nick", room: "", automatic: false };
    this.#asked.set(request, { nickname });
    return this.#request(
      { body: { case: "hello", value: { nickname, client: CLIENT_NAME } } },
      request,
    );
  }

  /**
   * Takes the registered `nickname` with its password; answered by AccountChanged IDENTIFIED,
   * after which both are kept for reconnects. False when not connected, or when the server
   * does not take passwords on this connection (passwordsAccepted): then nothing is sent.
   */
  identify(nickname: string, password: string): boolean {
    return this.#accountRequest(
      { case: "hello", value: { nickname, password, client: CLIENT_NAME } },
      "identify",
      { nickname, password },
    );
  }

  /** Registers the current nickname with `password`; false as identify(). */
  register(password: string): boolean {
    return this.#accountRequest({ case: "register", value: { password } }, "account", {
      password,
    });
  }

  /** Changes the password of the account the session holds; false as identify(). */
  changePassword(oldPassword: string, newPassword: string): boolean {
    return this.#accountRequest(
      { case: "changePassword", value: { oldPassword, newPassword } },
      "account",
      { password: newPassword },
    );
  }

  /** Deletes the account the session holds; false as identify(). */
  unregister(password: string): boolean {
    return this.#accountRequest({ case: "unregister", value: { password } }, "account", {
      password: "",
    });
  }

  /**
   * The nickname and password to identify with, after "login_required": the Hello goes now
   * if the connection still waits, else after the next Welcome; every reconnect uses them.
   */
  logIn(nickname: string, password: string): void {
    this.#nickname = nickname;
    this.#password = password;
    const waiting = this.#awaitingLogin;
    if (waiting === undefined) return;
    this.#awaitingLogin = undefined;
    this.#greet(waiting.connection, waiting.welcome);
  }

  /** Asks who is in `room`; with none, who is online anywhere. */
  who(room?: string): boolean {
    const key = room === undefined ? "" : roomKey(room);
    return this.#request(
      { body: { case: "who", value: { room: key } } },
      { kind: "who", room: key, automatic: false },
    );
  }

  /**
   * Joins `room` (a valid room name: see roomNameProblem) and makes it the current room.
   * Its history comes as "chat" events after the RoomJoined.
   */
  join(room: string): boolean {
    if (!this.isConnected) return false;
    const before = this.#rooms.current;
    const join = this.#rooms.join(room);
    this.#request(joinRequest(join), { kind: "join", room: join.room, automatic: false });
    this.#currentMayHaveChanged(before);
    return true;
  }

  /** Leaves `room`, by default the current room; the current room moves to the last joined. */
  part(room?: string): boolean {
    const key = room === undefined ? this.#rooms.current : roomKey(room);
    if (key === undefined || !this.isConnected) return false;
    const before = this.#rooms.current;
    this.#rooms.part(key);
    this.#request(
      { body: { case: "part", value: { room: key } } },
      { kind: "part", room: key, automatic: false },
    );
    this.#currentMayHaveChanged(before);
    return true;
  }

  /** Makes `room`, which the client is in, the current room; false when it is not in it. */
  select(room: string): boolean {
    const before = this.#rooms.current;
    if (!this.#rooms.select(room)) return false;
    this.#currentMayHaveChanged(before);
    return true;
  }

  /** Asks for the list of rooms. */
  rooms(): boolean {
    return this.#request(
      { body: { case: "rooms", value: {} } },
      { kind: "rooms", room: "", automatic: false },
    );
  }

  /**
   * Asks for up to `count` (0: the server's default) messages of the current room older
   * than any it showed; they come as "chat" events, then a HistoryEnd.
   */
  history(count = 0): boolean {
    if (!this.isConnected) return false;
    const page = this.#rooms.history(count);
    if (page === undefined) return false;
    return this.#request(
      { body: { case: "history", value: page } },
      { kind: "history", room: page.room, automatic: false },
    );
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

  #accountRequest(
    body: NonNullable<ClientMessageInit["body"]>,
    kind: "identify" | "account",
    asked: { nickname?: string; password: string },
  ): boolean {
    // Never a password over a connection the server says is not safe for one.
    if (!this.passwordsAccepted) return false;
    const request: AnsweredRequest = { kind, room: "", automatic: false };
    this.#asked.set(request, asked);
    return this.#request({ body }, request);
  }

  /** Queues a request behind the others; false when not connected. */
  #send(message: ClientMessageInit): boolean {
    if (this.#outbox === undefined) return false;
    this.#outbox.push(message);
    return true;
  }

  /** Queues a request whose answer is told apart by what it answers. */
  #request(message: ClientMessageInit, awaiting: AnsweredRequest): boolean {
    if (!this.#send(message)) return false;
    this.#awaiting.push(awaiting);
    return true;
  }

  /** The oldest request still waiting that `accepts` takes as answered; it waits no more. */
  #answered(accepts: (request: AnsweredRequest) => boolean): AnsweredRequest | undefined {
    const index = this.#awaiting.findIndex(accepts);
    if (index < 0) return undefined;
    return this.#awaiting.splice(index, 1)[0];
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
    this.#ping(connection);
  }

  /** A ping of the client's own, whose pong nobody waits for. */
  #ping(connection: ChatConnection): void {
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
        connection = await ChatConnection.open(this.hostname, this.port, this.#tls);
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
      // A TLS server (to a plain client) or a web port says what it is only once sent
      // something, where a chat server speaks first: without this, the client would wait for
      // a Welcome that never comes. Over TLS, it tells the server this is a client, not a
      // certificate probe (NodeTlsConn.firstInput).
      connection.probe();
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
      // A session still waiting for logIn() never began: its loss is a failed attempt.
      const welcomed = this.isConnected;
      this.#awaitingLogin = undefined;
      everWelcomed ||= welcomed;
      const unsent = this.unsent;
      this.#outbox?.[Symbol.dispose]();
      this.#outbox = undefined;
      this.#connection = undefined;
      if (welcomed) this.#rooms.disconnected();
      this.#awaiting = [];
      this.#welcome = undefined;
      if (this.#stopped) return true;
      // Only a connection that stayed up a while shows the server is healthy again.
      failures = welcomed && Date.now() - connectedAt >= STABLE_CONNECTION_MS ? 0 : failures + 1;
      const retryInMs = !connection.failedForGood && (this.#options.reconnect || !everWelcomed)
        ? this.#retryDelay(failures, everWelcomed)
        : undefined;
      if (welcomed) this.#emit({ type: "disconnected", reason, retryInMs, unsent });
      else {
        // Never a chat session: a failed attempt to connect, told as one.
        const error = new ConnectError(`Cannot connect to ${address}: ${reason}`, {
          final: connection.failedForGood,
        });
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
    if (this.#refusedForGood) return undefined;
    return backoffDelay(Math.max(1, failures), this.#options.backoff);
  }

  #receive(connection: ChatConnection, received: ServerMessage): void {
    let message = received;
    const body = message.body;
    if (body.case === "welcome") {
      this.#welcome = body.value;
      this.#renames.clear();
      if (body.value.accountRequired && this.#password === "") {
        this.#awaitingLogin = { connection, welcome: body.value };
        this.#emit({
          type: "login_required",
          address: connection.address,
          nickname: this.#nickname,
        });
        return;
      }
      return this.#greet(connection, body.value);
    }
    if (this.#outbox?.receive(message, this.#welcome!.sessionId)) return;
    let answers: AnsweredRequest | undefined;
    let after: TrackedOutput[] = [];
    const before = this.#rooms.current;
    switch (body.case) {
      case "chat":
        return this.#show(this.#rooms.chat(body.value));
      case "presence": {
        const { kind, sessionId, nickname, previousNickname } = body.value;
        if (kind !== PresenceKind.RENAMED) break;
        // Told once for each room the two share: passed on once.
        const rename = `${previousNickname}\0${nickname}`;
        if (this.#renames.get(sessionId) === rename) return;
        if (this.#renames.size >= MAX_RENAMES_REMEMBERED) this.#renames.clear();
        this.#renames.set(sessionId, rename);
        if (this.#welcome !== undefined && sessionId === this.#welcome.sessionId) {
          answers = this.#answered((request) => request.kind === "nick");
          this.#welcome.nickname = nickname;
          this.#nickname = nickname;
          // Another name, taken without a password: the password was the old name's.
          if (answers !== undefined) this.#password = "";
        }
        break;
      }
      case "who":
        answers = this.#answered((request) => request.kind === "who");
        break;
      case "joined": {
        const room = roomKey(body.value.room);
        answers = this.#answered((request) => request.kind === "join" && request.room === room);
        after = this.#rooms.joined(body.value);
        break;
      }
      case "parted": {
        const room = roomKey(body.value.room);
        answers = this.#answered((request) => request.kind === "part" && request.room === room);
        this.#rooms.parted(room);
        break;
      }
      case "rooms":
        answers = this.#answered((request) => request.kind === "rooms");
        break;
      case "account":
        answers = this.#accountChanged(body.value.change, body.value.nickname);
        if (this.#joinsOwed && body.value.change === AccountChange.IDENTIFIED) {
          this.#rejoin(connection);
        }
        break;
      case "historyEnd": {
        const room = roomKey(body.value.room);
        answers = this.#answered((request) => request.kind === "history" && request.room === room);
        // What was shown of it: a request that crossed messages on their way brings some again.
        const shown = this.#rooms.historyEnd(room);
        if (shown !== undefined && shown !== body.value.count) {
          message = create(ServerMessageSchema, {
            body: { case: "historyEnd", value: { ...body.value, count: shown } },
          });
        }
        break;
      }
      case "error": {
        const { code, clientSeq, fatal } = body.value;
        // Cut while the user typed the password: the next connection carries it.
        if (code === ErrorCode.AUTH_REQUIRED && this.#awaitingLogin === undefined) {
          this.#refusedForGood = true;
        }
        if (fatal || clientSeq !== 0n) break;
        answers = this.#answered((request) => ERRORS_ANSWERING[request.kind].includes(code));
        const asked = answers === undefined ? undefined : this.#asked.get(answers);
        if (code === ErrorCode.NICKNAME_REGISTERED && asked?.nickname !== undefined) {
          this.#registeredNickname = asked.nickname;
        }
        if (answers?.automatic && (answers.kind === "nick" || answers.kind === "identify")) {
          if (NICKNAME_REFUSED.has(code)) {
            // Refused for good: asking again after a reconnect could take the name from its
            // owner while they reconnect, or try a wrong password again. The client keeps the
            // guest name it is given.
            this.#nickname = "";
            this.#password = "";
          }
        } else if (answers?.kind === "join") after = this.#rooms.joinFailed(answers.room);
        else if (answers?.kind === "part") this.#rooms.partFailed(answers.room);
        else if (answers?.kind === "history") this.#rooms.historyEnd(answers.room);
        break;
      }
    }
    this.#emit(
      answers === undefined ? { type: "message", message } : { type: "message", message, answers },
    );
    this.#show(after);
    this.#currentMayHaveChanged(before);
  }

  /** Answers a Welcome: the Hello, the joins, and the outbox for everything after. */
  #greet(connection: ChatConnection, welcome: Welcome): void {
    const nickname = this.#nickname;
    const owed = nickname !== "" && this.#password !== "";
    const password = owed && welcome.passwordsAccepted ? this.#password : "";
    // An empty nickname keeps the guest name; the client name is logged either way.
    this.#write(connection, {
      body: { case: "hello", value: { nickname, password, client: CLIENT_NAME } },
    });
    if (nickname !== "") {
      const request: AnsweredRequest = {
        kind: password === "" ? "nick" : "identify",
        room: "",
        automatic: true,
      };
      this.#asked.set(request, { nickname, password });
      this.#awaiting.push(request);
    }
    // A server that admits registered users only ends a session that joins before that.
    this.#joinsOwed = welcome.accountRequired;
    const before = this.#rooms.current;
    if (!this.#joinsOwed) this.#rejoin(connection);
    this.#outbox?.[Symbol.dispose]();
    this.#outbox = new Outbox({
      write: (message) => this.#write(connection, message),
      sent: (message) => this.#emit({ type: "sent", message }),
      ratePerSecond: welcome.rateLimitPerSecond,
      burst: welcome.rateBurst,
    });
    this.#emit({
      type: "connected",
      welcome: welcome,
      requestedNickname: nickname,
      identifying: password !== "",
    });
    if (owed && password === "") {
      this.#emit({ type: "password_withheld", address: connection.address });
    }
    this.#currentMayHaveChanged(before);
  }

  /** The lobby's history the first time; after a reconnect, what was missed in every room. */
  #rejoin(connection: ChatConnection): void {
    this.#joinsOwed = false;
    const { joins, partLobby } = this.#rooms.connected();
    for (const join of joins) {
      this.#write(connection, joinRequest(join));
      this.#awaiting.push({ kind: "join", room: join.room, automatic: true });
    }
    if (partLobby) {
      this.#write(connection, { body: { case: "part", value: { room: LOBBY } } });
      this.#awaiting.push({ kind: "part", room: LOBBY, automatic: true });
    }
  }

  /** The request an AccountChanged answers; what it asked for holds from now on. */
  #accountChanged(change: AccountChange, nickname: string): AnsweredRequest | undefined {
    const kind = change === AccountChange.IDENTIFIED ? "identify" : "account";
    const answers = this.#answered((request) => request.kind === kind);
    const asked = answers === undefined ? undefined : this.#asked.get(answers);
    // On a server for registered users only, identifying is what names the session.
    if (change === AccountChange.IDENTIFIED && this.#welcome !== undefined) {
      this.#welcome.nickname = nickname;
    }
    if (change === AccountChange.UNREGISTERED) this.#password = "";
    else if (asked?.password !== undefined) {
      // A reconnect identifies again, with the password that holds now.
      this.#nickname = nickname;
      this.#password = asked.password;
    }
    return answers;
  }

  /** Passes on what the room tracker gives out to show. */
  #show(outputs: TrackedOutput[]): void {
    for (const output of outputs) {
      if (output.kind === "chat") {
        this.#emit({ type: "chat", event: output.event, room: output.room });
      } else this.#emit({ type: "gap", room: output.room, missed: output.missed });
    }
  }

  #currentMayHaveChanged(before: string | undefined): void {
    const current = this.#rooms.current;
    if (current !== before) this.#emit({ type: "room", current });
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

function joinRequest(join: JoinToSend): ClientMessageInit {
  return { body: { case: "join", value: join } };
}
