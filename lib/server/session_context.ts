import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage, type ServerMessageInit } from "../protocol/codec.ts";
import type { HandlerContext } from "./handlers.ts";
import type { Hub, OnlineUser, RenameResult } from "./hub.ts";
import type { Logger } from "./logger.ts";
import type { ServerCounters } from "./server_counters.ts";
import type { Session } from "./session.ts";

/** What every session's context shares: one object for the whole server. */
export interface SessionContextShared {
  readonly hub: Hub;
  readonly logger: Logger;
  readonly counters: ServerCounters;
  readonly maxContentBytes: number;
}

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

  reply(message: ServerMessageInit): void {
    if (message.body?.case === "error") {
      this.#shared.counters.errorSent(ErrorCode[message.body.value.code ?? 0]);
    }
    // Behind every broadcast the session is due by now: its queue sees to that.
    this.#session.send(encodeServerMessage(message));
  }

  allowChat(): boolean {
    return this.#session.allowChat();
  }

  allowRename(): boolean {
    return this.#session.allowRename();
  }

  broadcast(message: ServerMessageInit): void {
    this.#shared.counters.broadcasts++;
    this.#shared.hub.broadcast(message);
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

  who(): OnlineUser[] {
    return this.#shared.hub.who();
  }

  now(): number {
    return Date.now();
  }
}
