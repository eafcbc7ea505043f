import { Action, ErrorCode, PresenceKind, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { ChatClient, type ClientEvent } from "../client/chat_client.ts";
import type { BackoffOptions } from "../client/backoff.ts";
import type { ClientMessageInit } from "../protocol/codec.ts";
import { utf8Length } from "../protocol/utf8_length.ts";
import { formatServerMessage, formatWelcome } from "../ui/format_message.ts";
import { HELP_TEXT, parseInputLine } from "../ui/input_line.ts";
import { excerpt } from "./excerpt.ts";
import { printable } from "../ui/printable.ts";
import type { Style } from "../ui/style.ts";

/** Where a console's lines go. */
export interface ConsoleOutput {
  /** Something from the chat: a message, presence, a reply. */
  event(line: string): void;
  /** Something about the connection or the console itself. */
  status(line: string): void;
  /** The prompt to show, after the mode, nickname or connection changed. */
  prompt?(prompt: string): void;
  /**
   * A typed line that was not sent because the server would refuse it (too long),
   * told at once: a terminal may give it back to the user to edit. Its error line
   * follows through `event`, in its turn.
   */
  notSent?(line: string): void;
}

export interface ChatConsoleOptions {
  hostname: string;
  port: number;
  nickname: string;
  mode: Action;
  connectAttempts: number;
  reconnect: boolean;
  /**
   * How long to wait for the server's replies, the Welcome included, in ms. Counted
   * from when a request is sent, not while it waits in the outbox for the rate limit.
   */
  replyTimeoutMs: number;
  backoff?: BackoffOptions;
  style: Style;
  output: ConsoleOutput;
  /** Show only the replies to this console's own requests (one-shot mode). @default false */
  repliesOnly?: boolean;
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
  readonly #pendingWho: number[] = [];
  readonly #pendingNick: number[] = [];
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
  #settledWaiters: (() => void)[] = [];
  readonly #connected = Promise.withResolvers<boolean>();

  constructor(options: ChatConsoleOptions) {
    this.#options = options;
    this.#mode = options.mode;
    this.client = new ChatClient({
      hostname: options.hostname,
      port: options.port,
      nickname: options.nickname,
      connectAttempts: options.connectAttempts,
      reconnect: options.reconnect,
      welcomeTimeoutMs: options.replyTimeoutMs,
      backoff: options.backoff,
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
    return this.#pendingChats.size + this.#pendingPings.size + this.#pendingWho.length +
      this.#pendingNick.length;
  }

  /** True once the server has refused one of this console's requests, or a line was not sent. */
  get requestFailed(): boolean {
    return this.#requestFailed;
  }

  /** Resolves when a request sent has waited `replyTimeoutMs` without a reply. */
  get noReply(): Promise<void> {
    return this.#noReply.promise;
  }

  /** `[broadcast] guest-3> ` */
  get prompt(): string {
    const mode = this.#mode === Action.ECHO ? "echo" : "broadcast";
    // The nickname is the server's word: a hostile one could carry escape sequences.
    return `[${mode}] ${printable(this.client.nickname ?? "offline")}> `;
  }

  /** Resolves when no request is waiting for its reply. */
  settled(): Promise<void> {
    if (this.pendingReplies === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /** Acts on one typed line. Returns false when the user asked to quit. */
  input(line: string): boolean {
    const lineNumber = ++this.#lineNumber;
    const { output, style } = this.#options;
    const command = parseInputLine(line, this.#mode);
    switch (command.kind) {
      case "chat": {
        if (!this.client.isConnected) return this.#notConnected();
        const limit = this.client.maxContentBytes!;
        const bytes = utf8Length(command.text);
        const name = lineName(lineNumber, command.text);
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
        const seq = this.client.chat(command.text, command.action)!;
        this.#pendingChats.set(seq, { ordinal: this.#nextOrdinal++, name });
        return true;
      }
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
        this.#pendingNick.push(this.#nextOrdinal++);
        return true;
      case "who":
        if (!this.client.who()) return this.#notConnected();
        this.#pendingWho.push(this.#nextOrdinal++);
        return true;
      case "ping": {
        const nonce = this.#nextNonce++;
        // Before the ping goes: it may go at once, and its "sent" event starts the clock.
        this.#pendingPings.set(nonce, { ordinal: this.#nextOrdinal++ });
        if (this.client.ping(nonce)) return true;
        this.#pendingPings.delete(nonce);
        return this.#notConnected();
      }
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
      this.#pendingWho[0] ?? Infinity,
      this.#pendingNick[0] ?? Infinity,
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
      case "connect_failed":
        output.status(style.error(event.error.message));
        if (event.retryInMs !== undefined) {
          output.status(style.notice(`retrying in ${seconds(event.retryInMs)}`));
        }
        return;
      case "connected":
        // The client asks for its nickname again after every Welcome: that is a request too.
        if (event.requestedNickname !== "") {
          this.#pendingNick.push(this.#nextOrdinal++);
          this.#onSent();
        }
        this.#connected.resolve(true);
        if (!this.#options.repliesOnly) output.status(style.notice(formatWelcome(event.welcome)));
        if (this.#disconnectedAt !== undefined) {
          // The server keeps no history: say plainly that the gap is gone.
          const gap = seconds(Date.now() - this.#disconnectedAt);
          output.status(
            style.notice(`* reconnected after ${gap}; messages sent meanwhile are not shown`),
          );
          this.#disconnectedAt = undefined;
        }
        output.prompt?.(this.prompt);
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
        if (unanswered > 0) output.status(style.error(`! ${unanswered} request(s) got no reply`));
        if (event.unsent > 0) {
          output.status(style.error(`! ${event.unsent} request(s) were not sent`));
        }
        output.prompt?.(this.prompt);
        return;
      }
      case "message":
        return this.#onMessage(event.message);
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

  #onMessage(message: ServerMessage): void {
    const { output, style } = this.#options;
    const ownId = this.client.sessionId;
    const body = message.body;
    let isReply = false;
    let line = formatServerMessage(message, ownId, style);
    switch (body.case) {
      case "chat":
        isReply = body.value.fromSessionId === ownId &&
          this.#pendingChats.delete(body.value.clientSeq);
        break;
      case "pong": {
        const ping = this.#pendingPings.get(body.value.nonce);
        if (ping === undefined) return;
        this.#pendingPings.delete(body.value.nonce);
        const ms = performance.now() - (ping.sentAt ?? performance.now());
        output.event(style.notice(`* pong in ${ms.toFixed(1)} ms`));
        return this.#answered();
      }
      case "who":
        isReply = this.#pendingWho.shift() !== undefined;
        break;
      case "presence":
        isReply = body.value.kind === PresenceKind.RENAMED && body.value.sessionId === ownId &&
          this.#pendingNick.shift() !== undefined;
        if (body.value.sessionId === ownId) output.prompt?.(this.prompt);
        break;
      case "error": {
        const { code, clientSeq } = body.value;
        const chat = clientSeq === 0n ? undefined : this.#pendingChats.get(clientSeq);
        if (chat !== undefined) {
          this.#pendingChats.delete(clientSeq);
          line = style.error(`! ${chat.name} was refused: ${printable(body.value.message)}`);
          isReply = true;
        } else if (
          (code === ErrorCode.NICKNAME_TAKEN || code === ErrorCode.NICKNAME_INVALID ||
            code === ErrorCode.UNAVAILABLE || code === ErrorCode.RATE_LIMITED) &&
          this.#pendingNick.length > 0
        ) {
          this.#pendingNick.shift();
          isReply = true;
        }
        if (isReply) this.#requestFailed = true;
        break;
      }
    }
    // A fatal error explains the disconnect that follows, so it is always shown.
    const fatal = body.case === "error" && body.value.fatal;
    // One-shot output is the message's reply; a successful --nick shows in it already.
    const shown = !this.#options.repliesOnly || fatal || (isReply && body.case !== "presence");
    if (line !== undefined && shown) output.event(line);
    if (isReply) this.#answered();
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
    this.#pendingWho.length = 0;
    this.#pendingNick.length = 0;
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

/** `line 37 ("first words of it…")`: enough to find it again in a paste. */
function lineName(lineNumber: number, text: string): string {
  return `line ${lineNumber} ("${excerpt(text.trim(), 20)}")`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
