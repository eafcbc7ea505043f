import { Action, ErrorCode, PresenceKind, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { ChatClient, type ClientEvent } from "../client/chat_client.ts";
import type { BackoffOptions } from "../client/backoff.ts";
import { formatServerMessage, formatWelcome } from "./format_message.ts";
import { HELP_TEXT, parseInputLine } from "./input_line.ts";
import type { Style } from "./style.ts";

/** Where a console's lines go. */
export interface ConsoleOutput {
  /** Something from the chat: a message, presence, a reply. */
  event(line: string): void;
  /** Something about the connection or the console itself. */
  status(line: string): void;
  /** The prompt to show, after the mode, nickname or connection changed. */
  prompt?(prompt: string): void;
}

export interface ChatConsoleOptions {
  hostname: string;
  port: number;
  nickname: string;
  mode: Action;
  connectAttempts: number;
  reconnect: boolean;
  /** How long to wait for the server's replies, the Welcome included, in ms. */
  replyTimeoutMs: number;
  backoff?: BackoffOptions;
  style: Style;
  output: ConsoleOutput;
  /** Show only the replies to this console's own requests (one-shot mode). @default false */
  repliesOnly?: boolean;
}

/**
 * The terminal client's logic, shared by the interactive, piped and one-shot
 * modes: turns input lines into requests and client events into lines, and
 * keeps count of the requests still waiting for their reply.
 */
export class ChatConsole {
  readonly client: ChatClient;
  readonly #options: ChatConsoleOptions;
  #mode: Action;
  readonly #pendingChats = new Set<bigint>();
  readonly #pendingPings = new Map<bigint, number>();
  #pendingWho = 0;
  #pendingNick = 0;
  #nextNonce = 1n;
  #requestFailed = false;
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
    this.client.done.then(() => this.#connected.resolve(false));
  }

  /** Resolves true at the first Welcome, false if the client gives up first. */
  get connected(): Promise<boolean> {
    return this.#connected.promise;
  }

  /** Requests sent and not yet answered. */
  get pendingReplies(): number {
    return this.#pendingChats.size + this.#pendingPings.size + this.#pendingWho + this.#pendingNick;
  }

  /** True once the server has refused one of this console's requests. */
  get requestFailed(): boolean {
    return this.#requestFailed;
  }

  /** `[broadcast] guest-3> ` */
  get prompt(): string {
    const mode = this.#mode === Action.ECHO ? "echo" : "broadcast";
    return `[${mode}] ${this.client.nickname ?? "offline"}> `;
  }

  /** Resolves when no request is waiting for its reply. */
  settled(): Promise<void> {
    if (this.pendingReplies === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /** Acts on one typed line. Returns false when the user asked to quit. */
  input(line: string): boolean {
    const command = parseInputLine(line, this.#mode);
    switch (command.kind) {
      case "chat":
        return this.#request(() => {
          const seq = this.client.chat(command.text, command.action);
          if (seq !== undefined) this.#pendingChats.add(seq);
          return seq !== undefined;
        });
      case "mode":
        this.#mode = command.action;
        this.#options.output.prompt?.(this.prompt);
        return true;
      case "nick":
        if (command.nickname.normalize("NFC") === this.client.nickname) {
          this.#options.output.status(`* you are already ${command.nickname}`);
          return true;
        }
        return this.#request(() =>
          this.client.setNickname(command.nickname) && ++this.#pendingNick > 0
        );
      case "who":
        return this.#request(() => this.client.who() && ++this.#pendingWho > 0);
      case "ping": {
        const nonce = this.#nextNonce++;
        return this.#request(() => {
          this.#pendingPings.set(nonce, performance.now());
          return this.client.ping(nonce) || !this.#pendingPings.delete(nonce);
        });
      }
      case "help":
        this.#options.output.status(HELP_TEXT);
        return true;
      case "quit":
        return false;
      case "invalid":
        this.#options.output.status(this.#options.style.error(`! ${command.message}`));
        return true;
      case "empty":
        return true;
    }
  }

  #request(send: () => boolean): boolean {
    if (!send()) {
      this.#options.output.status(this.#options.style.error("! not connected - nothing was sent"));
    }
    return true;
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
        if (event.requestedNickname !== "") this.#pendingNick++;
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
      case "disconnected": {
        this.#disconnectedAt ??= Date.now();
        const lost = this.pendingReplies;
        this.#forgetPending();
        const retry = event.retryInMs === undefined
          ? ""
          : ` - reconnecting in ${seconds(event.retryInMs)}`;
        output.status(style.error(`disconnected: ${event.reason}${retry}`));
        if (lost > 0) output.status(style.error(`! ${lost} request(s) got no reply`));
        output.prompt?.(this.prompt);
        return;
      }
      case "message":
        return this.#onMessage(event.message);
    }
  }

  #onMessage(message: ServerMessage): void {
    const { output, style } = this.#options;
    const ownId = this.client.sessionId;
    const body = message.body;
    let isReply = false;
    switch (body.case) {
      case "chat":
        isReply = body.value.fromSessionId === ownId &&
          this.#pendingChats.delete(body.value.clientSeq);
        break;
      case "pong": {
        const sentAt = this.#pendingPings.get(body.value.nonce);
        if (sentAt === undefined) return;
        this.#pendingPings.delete(body.value.nonce);
        output.event(style.notice(`* pong in ${(performance.now() - sentAt).toFixed(1)} ms`));
        return this.#checkSettled();
      }
      case "who":
        isReply = this.#pendingWho > 0;
        if (isReply) this.#pendingWho--;
        break;
      case "presence":
        isReply = body.value.kind === PresenceKind.RENAMED && body.value.sessionId === ownId &&
          this.#pendingNick > 0;
        if (isReply) this.#pendingNick--;
        if (body.value.sessionId === ownId) output.prompt?.(this.prompt);
        break;
      case "error":
        isReply = this.#settleError(body.value.code, body.value.clientSeq);
        break;
    }
    const line = formatServerMessage(message, ownId, style);
    // A fatal error explains the disconnect that follows, so it is always shown.
    const fatal = body.case === "error" && body.value.fatal;
    // One-shot output is the message's reply; a successful --nick shows in it already.
    const shown = !this.#options.repliesOnly || fatal || (isReply && body.case !== "presence");
    if (line !== undefined && shown) output.event(line);
    if (isReply) this.#checkSettled();
  }

  /** Matches an Error to the request it answers; true when it answered one of ours. */
  #settleError(code: ErrorCode, clientSeq: bigint): boolean {
    let answered = false;
    if (clientSeq !== 0n && this.#pendingChats.delete(clientSeq)) answered = true;
    else if (
      (code === ErrorCode.NICKNAME_TAKEN || code === ErrorCode.NICKNAME_INVALID ||
        code === ErrorCode.UNAVAILABLE) &&
      this.#pendingNick > 0
    ) {
      this.#pendingNick--;
      answered = true;
    }
    if (answered) this.#requestFailed = true;
    return answered;
  }

  #forgetPending(): void {
    this.#pendingChats.clear();
    this.#pendingPings.clear();
    this.#pendingWho = 0;
    this.#pendingNick = 0;
    this.#checkSettled();
  }

  #checkSettled(): void {
    if (this.pendingReplies > 0) return;
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    for (const wake of waiters) wake();
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
