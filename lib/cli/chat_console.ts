import {
  Action,
  type ChatEvent,
  ErrorCode,
  type ServerMessage,
} from "../../gen/chat/v1/chat_pb.ts";
import {
  type AnsweredRequest,
  ChatClient,
  type ClientEvent,
  type RequestKind,
} from "../client/chat_client.ts";
import type { BackoffOptions } from "../client/backoff.ts";
import type { ClientTlsOptions } from "../client/tls_connect.ts";
import type { ClientMessageInit } from "../protocol/codec.ts";
import { LOBBY, MAX_ROOMS_PER_SESSION } from "../protocol/room_name.ts";
import { utf8Length } from "../protocol/utf8_length.ts";
import {
  formatChatEvent,
  formatGap,
  formatServerMessage,
  formatWelcome,
} from "../ui/format_message.ts";
import { HELP_TEXT, parseInputLine } from "../ui/input_line.ts";
import { loginRequiredText, passwordWithheldText } from "../ui/account_text.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { excerpt } from "./excerpt.ts";
import { printable } from "../ui/printable.ts";
import type { Style } from "../ui/style.ts";

/** Where a console's lines go. */
export interface ConsoleOutput {
  /** Something from the chat: a message, presence, a reply. */
  event(line: string): void;
  /** Something about the connection or the console itself. */
  status(line: string): void;
  /**
   * Options to connect with, for the user to copy whole (`--fingerprint AB:CD:...`): a
   * terminal leaves them unwrapped. Without it, they go through `status`.
   */
  command?(line: string): void;
  /** The prompt to show, after the mode, nickname or connection changed. */
  prompt?(prompt: string): void;
  /**
   * A typed line that was not sent because the server would refuse it (too long),
   * told at once: a terminal may give it back to the user to edit. Its error line
   * follows through `event`, in its turn.
   */
  notSent?(line: string): void;
  /**
   * The nickname asked for at connect is registered and no password was given (or the one
   * typed at this prompt was wrong): a terminal may ask for it, without echo, and pass it to
   * identify(). Without it, the console goes on under its guest name.
   */
  askPassword?(nickname: string): void;
  /**
   * The server admits registered users only and no password is known: a terminal asks for
   * the nickname (when `nickname` is "") and the password, and passes them to logIn().
   * Without it, the console says what to do and gives up.
   */
  askLogin?(nickname: string): void;
}

export interface ChatConsoleOptions {
  hostname: string;
  port: number;
  nickname: string;
  /** The password of `nickname`'s account (--password-file); kept in memory only. @default "" */
  password?: string;
  /** The file `password` came from, to name when the server says it is wrong. */
  passwordFile?: string;
  mode: Action;
  connectAttempts: number;
  reconnect: boolean;
  /**
   * How long to wait for the server's replies, the Welcome included, in ms. Counted
   * from when a request is sent, not while it waits in the outbox for the rate limit.
   */
  replyTimeoutMs: number;
  backoff?: BackoffOptions;
  /** Connect over TLS, verified so. @default undefined: plain TCP */
  tls?: ClientTlsOptions;
  style: Style;
  output: ConsoleOutput;
  /**
   * Name a line not sent by its number in the input (`line 37 ("first words…")`), as piped
   * input counts them; an interactive user sees no numbers. @default true
   */
  lineNumbers?: boolean;
  /** Show only the replies to this console's own requests (one-shot mode). @default false */
  repliesOnly?: boolean;
  /**
   * Show the lobby's recent messages on connecting, as the interactive console does; piped
   * and one-shot output holds only what happens from then on. @default false
   */
  lobbyHistory?: boolean;
}

/** A chat line waiting for its echo or broadcast, and what to call it if it is refused. */
interface PendingLine {
  readonly ordinal: number;
  /** `line 37 ("first words…")` */
  readonly name: string;
}

/** A line of the console's own (help, an unknown command), printed in its turn. */
interface HeldLine {
  readonly ordinal: number;
  print(): void;
}

/**
 * The terminal client's logic, shared by the interactive, piped and one-shot
 * modes: turns input lines into requests and client events into lines, and
 * keeps count of the requests still waiting for their reply.
 *
 * Output follows input: the console's own lines (an unknown command, /help, a
 * line too long to send) wait until every request typed before them has its reply.
 */
export class ChatConsole {
  readonly client: ChatClient;
  readonly #options: ChatConsoleOptions;
  #mode: Action;
  /** Every request and held line gets the next, in input order. */
  #nextOrdinal = 1;
  /** Input lines so far, to name a refused one. */
  #lineNumber = 0;
  // Maps and arrays in ordinal order: the first entry of each is its oldest.
  readonly #pendingChats = new Map<bigint, PendingLine>();
  readonly #pendingPings = new Map<bigint, { ordinal: number; sentAt?: number }>();
  /** Requests answered by something other than a chat line or a pong, by kind. */
  readonly #pending: Record<RequestKind, number[]> = {
    nick: [],
    who: [],
    join: [],
    part: [],
    rooms: [],
    history: [],
    identify: [],
    account: [],
  };
  /** The identify requests (their ordinals) made with a password typed at askPassword. */
  readonly #prompted = new Set<number>();
  readonly #held: HeldLine[] = [];
  #nextNonce = 1n;
  #requestFailed = false;
  /** Requests sent and not answered: the reply timeout runs while there are any. */
  #inFlight = 0;
  /** When the last reply came, or the first request in flight went out. */
  #quietSince = 0;
  #replyTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #noReply = Promise.withResolvers<void>();
  /** When the connection was lost, until the next Welcome. */
  #disconnectedAt: number | undefined;
  /** Between a reconnect and the answer to the lobby's join: the server's history is unknown. */
  #resuming = false;
  #settledWaiters: (() => void)[] = [];
  /** The last error was fatal: it explains the disconnect that follows. */
  #fatalShown = false;
  /** The nickname given to logIn(), to ask its password again if it is wrong. */
  #loginNickname: string | undefined;
  readonly #connected = Promise.withResolvers<boolean>();

  constructor(options: ChatConsoleOptions) {
    this.#options = options;
    this.#mode = options.mode;
    this.client = new ChatClient({
      hostname: options.hostname,
      port: options.port,
      nickname: options.nickname,
      password: options.password,
      connectAttempts: options.connectAttempts,
      reconnect: options.reconnect,
      welcomeTimeoutMs: options.replyTimeoutMs,
      backoff: options.backoff,
      tls: options.tls,
      lobbyHistory: options.lobbyHistory ?? false,
      onEvent: (event) => this.#onEvent(event),
    });
    this.client.done.then(() => {
      this.#connected.resolve(false);
      clearTimeout(this.#replyTimer);
    });
  }

  /** Resolves true at the first Welcome, false if the client gives up first. */
  get connected(): Promise<boolean> {
    return this.#connected.promise;
  }

  /** Requests made and not yet answered, those still waiting to be sent included. */
  get pendingReplies(): number {
    let count = this.#pendingChats.size + this.#pendingPings.size;
    for (const ordinals of Object.values(this.#pending)) count += ordinals.length;
    return count;
  }

  /** True once the server has refused one of this console's requests, or a line was not sent. */
  get requestFailed(): boolean {
    return this.#requestFailed;
  }

  /** Resolves when a request sent has waited `replyTimeoutMs` without a reply. */
  get noReply(): Promise<void> {
    return this.#noReply.promise;
  }

  /** `[broadcast] guest-3> ` in the lobby, `[broadcast #dev] guest-3> ` in another room. */
  get prompt(): string {
    const mode = this.#mode === Action.ECHO ? "echo" : "broadcast";
    const current = this.client.currentRoom;
    const room = current === LOBBY ? "" : current === undefined ? ", no room" : ` ${current}`;
    // The nickname is the server's word: a hostile one could carry escape sequences.
    return `[${mode}${room}] ${printable(this.client.nickname ?? "offline")}> `;
  }

  /** Resolves when no request is waiting for its reply. */
  settled(): Promise<void> {
    if (this.pendingReplies === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /**
   * Takes the registered `nickname` with `password`, as /identify does; `fromPrompt`: typed
   * at askPassword, which asks again if it is wrong.
   */
  identify(nickname: string, password: string, fromPrompt = false): void {
    if (!this.#passwordsAccepted()) return;
    this.client.identify(nickname, password);
    const ordinal = this.#nextOrdinal++;
    this.#pending.identify.push(ordinal);
    if (fromPrompt) this.#prompted.add(ordinal);
  }

  /**
   * The nickname and password asked for at askLogin: they go in the Hello, and are asked
   * again if the password is wrong.
   */
  logIn(nickname: string, password: string): void {
    this.#loginNickname = nickname;
    this.client.logIn(nickname, password);
  }

  /** True when a password may go now; otherwise the user is told why not. */
  #passwordsAccepted(): boolean {
    if (!this.client.isConnected) return !this.#notConnected();
    if (this.client.passwordsAccepted) return true;
    const address = formatHostPort(this.#options.hostname, this.#options.port);
    return !this.#refuse(passwordWithheldText(address, "terminal"));
  }

  /** Acts on one typed line. Returns false when the user asked to quit. */
  input(line: string): boolean {
    const lineNumber = ++this.#lineNumber;
    const { output, style } = this.#options;
    const command = parseInputLine(line, this.#mode, { rooms: true });
    switch (command.kind) {
      case "chat":
      case "private": {
        if (!this.client.isConnected) return this.#notConnected();
        const limit = this.client.maxContentBytes!;
        const bytes = utf8Length(command.text);
        const name = lineName(
          this.#options.lineNumbers === false ? undefined : lineNumber,
          command.text,
        );
        if (bytes > limit) {
          // The server would refuse it: say so now, and spare the round trip.
          this.#requestFailed = true;
          output.notSent?.(line);
          this.#hold(() =>
            output.event(
              style.error(
                `! ${name} was not sent: it is ${bytes} bytes long; the limit is ${limit}`,
              ),
            )
          );
          return true;
        }
        if (command.kind === "chat" && command.action === Action.BROADCAST) {
          if (this.client.currentRoom === undefined) {
            return this.#refuse("you are in no room - /join one first");
          }
        }
        const seq = command.kind === "chat"
          ? this.client.chat(command.text, command.action)!
          : this.client.privateMessage(command.nickname, command.text)!;
        this.#pendingChats.set(seq, { ordinal: this.#nextOrdinal++, name });
        return true;
      }
      case "join": {
        if (!this.client.isConnected) return this.#notConnected();
        if (this.client.inRoom(command.room)) {
          // Already there: it only becomes the room typed lines go to.
          this.client.select(command.room);
          this.#hold(() => output.status(style.notice(`* talking in ${command.room}`)));
          return true;
        }
        if (this.client.joinedRooms.length >= MAX_ROOMS_PER_SESSION) {
          return this.#refuse(
            `you are in ${MAX_ROOMS_PER_SESSION} rooms, the most allowed - /part one first`,
          );
        }
        this.client.join(command.room);
        this.#pending.join.push(this.#nextOrdinal++);
        return true;
      }
      case "part": {
        if (!this.client.isConnected) return this.#notConnected();
        const room = command.room ?? this.client.currentRoom;
        if (room === undefined) return this.#refuse("you are in no room");
        if (!this.client.inRoom(room)) return this.#refuse(`you are not in ${room}`);
        this.client.part(room);
        this.#pending.part.push(this.#nextOrdinal++);
        return true;
      }
      case "rooms":
        if (!this.client.rooms()) return this.#notConnected();
        this.#pending.rooms.push(this.#nextOrdinal++);
        return true;
      case "history":
        if (!this.client.isConnected) return this.#notConnected();
        if (this.client.currentRoom === undefined) return this.#refuse("you are in no room");
        this.client.history(command.count);
        this.#pending.history.push(this.#nextOrdinal++);
        return true;
      case "mode":
        this.#mode = command.action;
        output.prompt?.(this.prompt);
        return true;
      case "nick":
        if (command.nickname.normalize("NFC") === this.client.nickname) {
          this.#hold(() => output.status(`* you are already ${command.nickname}`));
          return true;
        }
        if (!this.client.setNickname(command.nickname)) return this.#notConnected();
        this.#pending.nick.push(this.#nextOrdinal++);
        return true;
      case "who":
        // The current room, or everyone when in none.
        if (!this.client.who(command.room ?? this.client.currentRoom)) {
          return this.#notConnected();
        }
        this.#pending.who.push(this.#nextOrdinal++);
        return true;
      case "ping": {
        const nonce = this.#nextNonce++;
        // Before the ping goes: it may go at once, and its "sent" event starts the clock.
        this.#pendingPings.set(nonce, { ordinal: this.#nextOrdinal++ });
        if (this.client.ping(nonce)) return true;
        this.#pendingPings.delete(nonce);
        return this.#notConnected();
      }
      case "identify":
        this.identify(
          command.nickname ?? this.client.registeredNickname ?? this.client.nickname ?? "",
          command.password,
        );
        return true;
      case "register":
      case "password":
      case "unregister":
        if (!this.#passwordsAccepted()) return true;
        if (command.kind === "register") this.client.register(command.password);
        else if (command.kind === "unregister") this.client.unregister(command.password);
        else this.client.changePassword(command.oldPassword, command.newPassword);
        this.#pending.account.push(this.#nextOrdinal++);
        return true;
      case "help":
        this.#hold(() => output.status(HELP_TEXT));
        return true;
      case "quit":
        return false;
      case "invalid":
        this.#requestFailed = true;
        this.#hold(() => output.event(style.error(`! ${command.message}`)));
        return true;
      case "empty":
        return true;
    }
  }

  #notConnected(): boolean {
    this.#options.output.status(this.#options.style.error("! not connected - nothing was sent"));
    return true;
  }

  /** A request the console does not send, told in its turn: it counts as refused. */
  #refuse(why: string): boolean {
    this.#requestFailed = true;
    this.#hold(() => this.#options.output.event(this.#options.style.error(`! ${why}`)));
    return true;
  }

  /** Prints now if every earlier request has its reply, else once they have. */
  #hold(print: () => void): void {
    const ordinal = this.#nextOrdinal++;
    if (this.#held.length === 0 && this.#oldestPending() > ordinal) print();
    else this.#held.push({ ordinal, print });
  }

  #releaseHeld(): void {
    const oldest = this.#oldestPending();
    while (this.#held.length > 0 && this.#held[0].ordinal < oldest) this.#held.shift()!.print();
  }

  #oldestPending(): number {
    return Math.min(
      this.#pendingChats.values().next().value?.ordinal ?? Infinity,
      this.#pendingPings.values().next().value?.ordinal ?? Infinity,
      ...Object.values(this.#pending).map((ordinals) => ordinals[0] ?? Infinity),
    );
  }

  #onEvent(event: ClientEvent): void {
    const { output, style } = this.#options;
    switch (event.type) {
      case "connecting":
        if (event.attempt === 1 && !this.#options.repliesOnly) {
          output.status(style.notice(`connecting to ${event.address} ...`));
        }
        return;
      case "connect_failed": {
        output.status(style.error(event.error.message));
        const { command } = event.error;
        if (command !== undefined) (output.command ?? output.status)(command);
        if (event.retryInMs !== undefined) {
          output.status(style.notice(`retrying in ${seconds(event.retryInMs)}`));
        }
        return;
      }
      case "connected":
        // The client asks for its nickname again after every Welcome: that is a request too.
        if (event.requestedNickname !== "") {
          this.#pending[event.identifying ? "identify" : "nick"].push(this.#nextOrdinal++);
          this.#onSent();
        }
        this.#connected.resolve(true);
        this.#fatalShown = false;
        if (!this.#options.repliesOnly) output.status(style.notice(formatWelcome(event.welcome)));
        if (this.#disconnectedAt !== undefined) {
          // What was missed follows, from history, or a notice of what is lost.
          const gap = seconds(Date.now() - this.#disconnectedAt);
          output.status(style.notice(`* reconnected after ${gap}`));
          this.#disconnectedAt = undefined;
          this.#resuming = true;
        }
        output.prompt?.(this.prompt);
        return;
      case "login_required":
        if (output.askLogin === undefined) {
          // Nobody to ask: a Hello without a password would only be refused.
          this.#requestFailed = true;
          output.status(
            style.error(`Cannot connect to ${event.address}: ${loginRequiredText("terminal")}`),
          );
          void this.client.close();
          return;
        }
        output.status(style.notice(`* ${event.address} admits registered users only: log in`));
        output.askLogin(event.nickname);
        return;
      case "password_withheld":
        output.status(style.error(`! ${passwordWithheldText(event.address, "terminal")}`));
        return;
      case "sent":
        return this.#onSent(event.message);
      case "disconnected": {
        this.#disconnectedAt ??= Date.now();
        const unanswered = this.pendingReplies - event.unsent;
        this.#forgetPending();
        const retry = event.retryInMs === undefined
          ? ""
          : ` - reconnecting in ${seconds(event.retryInMs)}`;
        output.status(style.error(`disconnected: ${event.reason}${retry}`));
        // After a fatal error, which said why, nothing more was to come.
        if (unanswered > 0 && !this.#fatalShown) {
          output.status(style.error(`! ${unanswered} request(s) got no reply`));
        }
        if (event.unsent > 0) {
          output.status(style.error(`! ${event.unsent} request(s) were not sent`));
        }
        output.prompt?.(this.prompt);
        return;
      }
      case "message":
        return this.#onMessage(event.message, event.answers);
      case "chat":
        return this.#onChat(event.event);
      case "gap":
        if (!this.#options.repliesOnly) output.event(formatGap(event.room, event.missed, style));
        return;
      case "room":
        output.prompt?.(this.prompt);
        return;
    }
  }

  /** A request went out (or, with no message, the Hello after Welcome): its reply is due. */
  #onSent(message?: ClientMessageInit): void {
    if (message?.body?.case === "ping") {
      const ping = this.#pendingPings.get(BigInt(message.body.value.nonce ?? 0n));
      if (ping !== undefined) ping.sentAt = performance.now();
    }
    if (this.#inFlight++ > 0) return;
    this.#quietSince = Date.now();
    this.#watchReplies();
  }

  #watchReplies(): void {
    if (this.#replyTimer !== undefined) return;
    const due = this.#quietSince + this.#options.replyTimeoutMs - Date.now();
    const timer = setTimeout(() => {
      this.#replyTimer = undefined;
      if (this.#inFlight === 0) return;
      if (Date.now() - this.#quietSince >= this.#options.replyTimeoutMs) {
        this.#noReply.resolve();
      } else this.#watchReplies();
    }, Math.max(0, due));
    // Waiting for a reply is no reason to keep the program running.
    Deno.unrefTimer(timer);
    this.#replyTimer = timer;
  }

  #onChat(event: ChatEvent): void {
    const { output, style } = this.#options;
    // A message from history was sent by an earlier session: never a reply to this one.
    const isReply = !event.history && event.fromSessionId === this.client.sessionId &&
      this.#pendingChats.delete(event.clientSeq);
    if (!this.#options.repliesOnly || isReply) {
      output.event(formatChatEvent(event, this.client.sessionId, style));
    }
    if (isReply) this.#answered();
  }

  #onMessage(message: ServerMessage, answers: AnsweredRequest | undefined): void {
    const { output, style } = this.#options;
    const ownId = this.client.sessionId;
    const body = message.body;
    let isReply = false;
    // The password of --password-file, refused: the hint names the file.
    const fromFile = answers?.automatic && answers.kind === "identify" &&
        this.#loginNickname === undefined
      ? this.#options.passwordFile
      : undefined;
    let line = formatServerMessage(message, ownId, style, { passwordFile: fromFile });
    // The nickname asked for after a reconnect counts as this console's request too.
    const ours = answers !== undefined &&
      (!answers.automatic || answers.kind === "nick" || answers.kind === "identify");
    const ordinal = ours ? this.#pending[answers.kind][0] : undefined;
    switch (body.case) {
      case "pong": {
        const ping = this.#pendingPings.get(body.value.nonce);
        if (ping === undefined) return;
        this.#pendingPings.delete(body.value.nonce);
        const ms = performance.now() - (ping.sentAt ?? performance.now());
        output.event(style.notice(`* pong in ${ms.toFixed(1)} ms`));
        return this.#answered();
      }
      case "presence":
        if (body.value.sessionId === ownId) output.prompt?.(this.prompt);
        break;
      case "account":
        output.prompt?.(this.prompt);
        break;
      case "joined":
        if (answers?.automatic) {
          // The client's own joins after Welcome: their history shows, not the join itself.
          if (answers.room === LOBBY) this.#resuming = false;
          line = body.value.historyUnavailable
            ? style.error(`! the history of ${printable(body.value.room)} cannot be read now`)
            : undefined;
        }
        break;
      case "parted":
        if (answers?.automatic) line = undefined;
        break;
      case "error": {
        const { code, clientSeq } = body.value;
        const chat = clientSeq === 0n ? undefined : this.#pendingChats.get(clientSeq);
        if (chat !== undefined) {
          this.#pendingChats.delete(clientSeq);
          // A private message to nobody: the server's words name the nickname.
          line = code === ErrorCode.NO_SUCH_USER
            ? style.error(`! ${printable(body.value.message)}`)
            : style.error(`! ${chat.name} was refused: ${printable(body.value.message)}`);
          isReply = true;
        } else if (answers?.automatic && answers.kind === "join") {
          if (code === ErrorCode.UNSUPPORTED) {
            // A server from before rooms: no history, so nothing missed can be shown.
            line = this.#resuming
              ? style.notice(
                "* this server keeps no history: messages sent meanwhile are not shown",
              )
              : undefined;
            if (answers.room === LOBBY) this.#resuming = false;
          } else {
            line = style.error(
              `! could not rejoin ${answers.room}: ${printable(body.value.message)}`,
            );
          }
        }
        break;
      }
    }
    if (ours && this.#pending[answers.kind].shift() !== undefined) isReply = true;
    if (isReply && body.case === "error") this.#requestFailed = true;
    // A fatal error explains the disconnect that follows, so it is always shown.
    const fatal = body.case === "error" && body.value.fatal;
    if (fatal) this.#fatalShown = true;
    // One-shot output is the message's reply; a successful --nick shows in it already.
    const shown = !this.#options.repliesOnly || fatal || (isReply && body.case !== "presence");
    if (line !== undefined && shown) output.event(line);
    if (isReply) this.#answered();
    if (body.case === "error" && answers !== undefined) {
      this.#askPasswordAfter(body.value.code, answers, ordinal);
    }
  }

  /**
   * The nickname asked for at connect is registered, and no password came with it; or the
   * password typed at the prompt was wrong: the terminal may ask for it.
   */
  #askPasswordAfter(code: ErrorCode, answers: AnsweredRequest, ordinal: number | undefined): void {
    const prompted = ordinal !== undefined && this.#prompted.delete(ordinal);
    const nickname = this.client.registeredNickname ?? this.#loginNickname ??
      this.#options.nickname;
    const unasked = answers.automatic && answers.kind === "nick" &&
      code === ErrorCode.NICKNAME_REGISTERED && !this.#options.password;
    // On a server that admits registered users only, the login at connect is asked again.
    const wrong = (prompted || (answers.automatic && this.client.accountRequired)) &&
      code === ErrorCode.AUTH_FAILED;
    if ((unasked || wrong) && this.client.passwordsAccepted) {
      this.#options.output.askPassword?.(nickname);
    }
  }

  #answered(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    this.#quietSince = Date.now();
    this.#releaseHeld();
    this.#checkSettled();
  }

  #forgetPending(): void {
    this.#pendingChats.clear();
    this.#pendingPings.clear();
    for (const ordinals of Object.values(this.#pending)) ordinals.length = 0;
    this.#prompted.clear();
    this.#inFlight = 0;
    this.#releaseHeld();
    this.#checkSettled();
  }

  #checkSettled(): void {
    if (this.pendingReplies > 0) return;
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * `line 37 ("first words of it…")`: enough to find it again in a paste; `the line ("first
 * words of it…")` where lines are not numbered.
 */
function lineName(lineNumber: number | undefined, text: string): string {
  const quoted = `("${excerpt(text.trim(), 20)}")`;
  return lineNumber === undefined ? `the line ${quoted}` : `line ${lineNumber} ${quoted}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
