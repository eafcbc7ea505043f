/** A hub member for unit tests that keeps what it is sent, and helpers to compare presence. */
import assert from "node:assert/strict";
import type { Presence, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import type { BroadcastLog } from "../../lib/net/broadcast_log.ts";
import { framedPayloads } from "./framed_payloads.ts";
import type { HubMember } from "../../lib/server/hub.ts";

/**
 * A member that keeps every payload it is sent, at once: the log's frames when the hub's
 * pass delivers them, and its own frames behind those it is due, as a session's queue
 * orders them.
 */
export class FakeMember implements HubMember {
  readonly sent: Uint8Array[] = [];
  /** Deliveries that carried something: the writes a session would make. */
  writes = 0;
  nickname: string;
  /** The logs it follows (one per room), and how far it has taken each. */
  readonly #positions = new Map<BroadcastLog, number>();
  constructor(readonly id: bigint) {
    this.nickname = `guest-${id}`;
  }
  send(payload: Uint8Array): void {
    this.#takeLog();
    this.writes++;
    this.sent.push(payload);
  }
  follow(log: BroadcastLog): void {
    this.#positions.set(log, log.head);
  }
  deliver(_now: number, log: BroadcastLog): number | undefined {
    if (!this.#positions.has(log)) return undefined;
    for (const [followed, position] of this.#positions) {
      if (position < followed.head) {
        this.writes++;
        break;
      }
    }
    this.#takeLog();
    return this.#positions.get(log);
  }
  /** Stops following `log`, or every log as a closing session does; what it held is taken. */
  unfollow(log?: BroadcastLog): void {
    this.#takeLog();
    if (log === undefined) this.#positions.clear();
    else this.#positions.delete(log);
  }
  #takeLog(): void {
    for (const [log, position] of this.#positions) {
      if (position === log.head) continue;
      for (const view of log.views(position)) this.sent.push(...framedPayloads(view));
      this.#positions.set(log, log.head);
    }
  }
  /** Decodes what was sent so far. */
  messages() {
    return this.sent.map(decodeServerMessage);
  }
  /** Decodes and forgets what was sent so far. */
  take() {
    const messages = this.messages();
    this.sent.length = 0;
    return messages;
  }
  /** Decodes and forgets what was sent so far, which must be presence events. */
  takePresence(): Presence[] {
    return this.take().map((message) => {
      assert.equal(message.body.case, "presence");
      return message.body.value as Presence;
    });
  }
}

/** Joins members 1..n to `hub` as guest-1..guest-n, and clears their join events. */
export function joinMembers(hub: { join(member: HubMember): void }, n: number): FakeMember[] {
  const members: FakeMember[] = [];
  for (let id = 1; id <= n; id++) {
    const member = new FakeMember(BigInt(id));
    hub.join(member);
    members.push(member);
  }
  for (const member of members) member.sent.length = 0;
  return members;
}

/** The fields of a presence event a test expects, to compare with `fields` of one sent. */
export function presence(
  kind: PresenceKind,
  sessionId: bigint,
  nickname: string,
  online: number,
  previousNickname = "",
) {
  return { kind, sessionId, nickname, previousNickname, online };
}

/** The fields of a presence event that `presence` describes. */
export function fields({ kind, sessionId, nickname, previousNickname, online }: Presence) {
  return { kind, sessionId, nickname, previousNickname, online };
}

/** True when `a` and `b` are the same bytes in memory, not merely equal ones. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;
}
