import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage, type ServerMessageInit } from "../protocol/codec.ts";
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
}

/** Rooms a RoomsResponse lists at most. */
const MAX_ROOMS_LISTED = 100;

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

  replyEncoded(payload: Uint8Array): void {
    this.#session.send(payload);
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
}
