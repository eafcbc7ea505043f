/** A hub member for unit tests that keeps what it is sent, and helpers to compare presence. */
import assert from "node:assert/strict";
import type { Presence, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import { FramedBatch, type OutboundChunk } from "../../lib/net/framed_batch.ts";
import type { HubMember } from "../../lib/server/hub.ts";

/** A member that keeps every payload it is sent. */
export class FakeMember implements HubMember {
  readonly sent: Uint8Array[] = [];
  /** How many times `send` was called: the writes a session would make. */
  writes = 0;
  nickname: string;
  constructor(readonly id: bigint) {
    this.nickname = `guest-${id}`;
  }
  /** Shared batches are unpacked, so tests see one payload per frame either way. */
  send(chunk: OutboundChunk): void {
    this.writes++;
    if (chunk instanceof FramedBatch) this.sent.push(...chunk.payloads);
    else this.sent.push(chunk);
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
