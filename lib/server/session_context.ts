import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage, type ServerMessageInit } from "../protocol/codec.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { nicknameKey } from "../protocol/nickname.ts";
import type { Accounts } from "./accounts/accounts.ts";
import type { HandlerContext } from "./handlers.ts";
import type {
  ChatMessage,
  ChatResult,
  Hub,
  JoinResult,
  OnlineUser,
  PrivateResult,
  RenameResult,
  RoomInfo,
} from "./hub.ts";
import type { HistoryPage, HistoryStore, MissedEvents } from "./history/history_store.ts";
import { chatEventFrame } from "../protocol/chat_event_writer.ts";
import { Semaphore } from "../util/semaphore.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import type { Logger } from "./logger.ts";
import type { ServerCounters } from "./server_counters.ts";
import type { Session } from "./session.ts";

/** What every session's context shares: one object for the whole server. */
export interface SessionContextShared {
  readonly hub: Hub;
  readonly logger: Logger;
  readonly counters: ServerCounters;
  readonly maxContentBytes: number;
  readonly history: HistoryStore;
  readonly historyOnJoin: number;
  readonly historySize: number;
  readonly accounts: Accounts;
  /** Passwords are taken over connections that are not encrypted too (--allow-plaintext-passwords). */
  readonly allowPlaintextPasswords: boolean;
  /** Sessions stay out of the chat until they identify (--require-account). */
  readonly requireAccount: boolean;
}

/** Rooms a RoomsResponse lists at most. */
const MAX_ROOMS_LISTED = 100;

/**
 * Sessions sent history at once, in the whole server. A page is up to --history-size
 * messages of up to --max-content-bytes each (4 MB by default), held until sent: a crowd
 * resuming at once, or clients that ask and never read, hold this many pages, not one each.
 */
const HISTORY_SENDERS = new Semaphore(8);

/** How long a history request may wait for a sender. */
const HISTORY_SENDER_WAIT_MS = 1000;

/** How far history may run ahead of what the client has read. */
const HISTORY_WINDOW_BYTES = 64 * 1024;

/**
 * How long a write may take while history waits for it: 64 KiB in 2 s is 256 kbit/s. A
 * client slower than that, or not reading, is cut rather than hold a sender.
 */
const HISTORY_STALL_MS = 2000;

/**
 * A session's HandlerContext. Its methods live on the prototype, not in closures made
 * for each session: with thousands of idle sessions, that is memory saved on every one.
 */
export class SessionContext implements HandlerContext {
  readonly #session: Session;
  readonly #shared: SessionContextShared;

  constructor(session: Session, shared: SessionContextShared) {
    this.#session = session;
    this.#shared = shared;
  }

  get sessionId(): bigint {
    return this.#session.id;
  }

  get nickname(): string {
    return this.#session.nickname;
  }

  get maxContentBytes(): number {
    return this.#shared.maxContentBytes;
  }

  get historyOnJoin(): number {
    return this.#shared.historyOnJoin;
  }

  get historySize(): number {
    return this.#shared.historySize;
  }

  reply(message: ServerMessageInit): void {
    if (message.body?.case === "error") {
      this.#shared.counters.errorSent(ErrorCode[message.body.value.code ?? 0]);
    }
    // Behind every broadcast the session is due by now: its queue sees to that.
    this.#session.send(encodeServerMessage(message));
  }

  replyHistory<Page extends HistoryPage>(read: () => Promise<Page>): Promise<Page> {
    const session = this.#session;
    // Read once a permit is free: a page waiting for its turn would be memory held too.
    // Clients that ask and do not read may take them all for a while: then the answer is
    // that history is unavailable, rather than a join that holds up its session's chat.
    return HISTORY_SENDERS.run(async () => {
      const page = await read();
      for (const event of page.events) {
        // A resume may bring megabytes: they go out as the client takes them, never more
        // than a window ahead, so that a reader is not cut as a slow consumer for them.
        while (session.backlogBytes > HISTORY_WINDOW_BYTES && !session.isClosing) {
          if (!await waitAtMost(session.writeEnded(), HISTORY_STALL_MS)) {
            // It asked and does not read: it must not hold a sender for everyone else.
            session.cutAsSlowConsumer(
              `its history waited ${HISTORY_STALL_MS / 1000} s for you to read`,
            );
          }
        }
        if (session.isClosing) break;
        session.send(chatEventFrame(event.chatEvent, event.eventId, true));
      }
      return page;
    }, HISTORY_SENDER_WAIT_MS);
  }

  allowChat(): boolean {
    return this.#session.allowChat();
  }

  allowRoomRequest(): boolean {
    return this.#session.allowRoomRequest();
  }

  allowRename(): boolean {
    return this.#session.allowRename();
  }

  broadcast(room: string, message: ChatMessage): ChatResult {
    const result = this.#shared.hub.chat(this.#session, room, message);
    if (result !== "not_in_room") this.#shared.counters.broadcasts++;
    return result;
  }

  privateMessage(toNickname: string, message: ChatMessage): PrivateResult {
    return this.#shared.hub.privateMessage(this.#session, toNickname, message);
  }

  joinRoom(room: string): JoinResult {
    return this.#shared.hub.joinRoom(this.#session, room);
  }

  partRoom(room: string): boolean {
    return this.#shared.hub.partRoom(this.#session, room);
  }

  isInRoom(room: string): boolean {
    return this.#shared.hub.isInRoom(this.#session, room);
  }

  roomMembers(room: string): number {
    return this.#shared.hub.roomMembers(room);
  }

  async rooms(): Promise<{ rooms: RoomInfo[]; truncated: boolean }> {
    const rooms = this.#shared.hub.rooms();
    // Rooms nobody is in are listed for their history, after the others.
    let kept: string[] = [];
    try {
      kept = await this.#shared.history.rooms(MAX_ROOMS_LISTED + 1);
    } catch {
      // History is unavailable: the rooms with members are still worth listing.
    }
    const listed = new Set(rooms.map((room) => room.name));
    for (const name of kept) if (!listed.has(name)) rooms.push({ name, members: 0 });
    return { rooms: rooms.slice(0, MAX_ROOMS_LISTED), truncated: rooms.length > MAX_ROOMS_LISTED };
  }

  historyBefore(room: string, beforeId: bigint, count: number): Promise<HistoryPage> {
    return this.#shared.history.before(room, beforeId, count);
  }

  historyAfter(room: string, afterId: bigint, limit: number): Promise<MissedEvents> {
    return this.#shared.history.after(room, afterId, limit);
  }

  rename(nickname: string): RenameResult | Promise<RenameResult> {
    const session = this.#session;
    const previous = session.nickname;
    const logRename = (result: RenameResult) => {
      if (result !== "renamed" || previous === nickname) return result;
      // Renamed away from its account: taking it back needs the password again.
      if (session.account !== undefined && nicknameKey(nickname) !== session.account) {
        session.account = undefined;
      }
      this.#shared.logger.log(
        "info",
        "rename",
        `${previous} is now ${nickname} (${session.transport.peer})`,
        { session_id: session.id, nickname, previous_nickname: previous },
      );
      return result;
    };
    const result = this.#shared.hub.rename(session, nickname);
    return result instanceof Promise ? result.then(logRename) : logRename(result);
  }

  setClientName(name: string): void {
    this.#session.clientName = name;
  }

  who(room?: string): OnlineUser[] {
    return this.#shared.hub.who(room);
  }

  now(): number {
    return Date.now();
  }

  get address(): string {
    return this.#session.transport.remoteHostname;
  }

  get accounts(): Accounts {
    return this.#shared.accounts;
  }

  get requireAccount(): boolean {
    return this.#shared.requireAccount;
  }

  get passwordsAccepted(): boolean {
    return this.#session.transport.encrypted || this.#shared.allowPlaintextPasswords;
  }

  get admitted(): boolean {
    return !this.#shared.requireAccount ||
      this.#shared.hub.localUser(this.#session.id) !== undefined;
  }

  get identifiedAs(): string | undefined {
    const { account, nickname } = this.#session;
    // The hub may have renamed it on its own (Hub.nicknameLost).
    return account !== undefined && nicknameKey(nickname) === account ? account : undefined;
  }

  identify(key: string | undefined): void {
    this.#session.account = key;
  }

  admit(nickname: string, key: string): RenameResult | Promise<RenameResult> {
    const session = this.#session;
    const admitted = (result: RenameResult) => {
      if (result === "renamed") session.admittedBy = key;
      return result;
    };
    const result = this.#shared.hub.admit(session, nickname);
    return result instanceof Promise ? result.then(admitted) : admitted(result);
  }

  fail(code: ErrorCode, message: string): void {
    const reason = `refused: ${ErrorCode[code]}`;
    this.#shared.counters.errorSent(ErrorCode[code]);
    this.#session.end(reason, encodeServerMessage(errorMessage(code, message)));
  }

  logAccount(what: string, nickname: string): void {
    const session = this.#session;
    this.#shared.logger.log(
      "info",
      "account",
      `account ${nickname}: ${what} (${session.transport.peer})`,
      { session_id: session.id, nickname, peer: session.transport.peer, change: what },
    );
  }
}
