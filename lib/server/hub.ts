import { PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage, type ServerMessageInit } from "../protocol/codec.ts";
import { nicknameKey } from "../protocol/nickname.ts";

/** Anything the hub can deliver to: a session, whatever its transport. */
export interface HubMember {
  readonly id: bigint;
  /** Queues an encoded ServerMessage; must not wait for the write. */
  send(payload: Uint8Array): void;
}

export interface OnlineUser {
  sessionId: bigint;
  nickname: string;
}

/**
 * The one place fan-out happens: membership, nicknames, presence and broadcasts.
 * Each event is encoded once and the same bytes are queued on every recipient, in
 * the order the hub accepted the events, so every member sees one order.
 */
export class Hub {
  readonly #members = new Map<bigint, { member: HubMember; nickname: string }>();
  /** Nickname key -> the session holding it, for case-insensitive uniqueness. */
  readonly #owners = new Map<string, bigint>();

  get online(): number {
    return this.#members.size;
  }

  /** Adds a member and tells the others. */
  join(member: HubMember, nickname: string): void {
    this.#members.set(member.id, { member, nickname });
    this.#owners.set(nicknameKey(nickname), member.id);
    this.#announce(PresenceKind.JOINED, member.id, nickname, "", member.id);
  }

  /** Removes a member and tells the rest. Safe to call for a non-member. */
  leave(member: HubMember): void {
    const entry = this.#members.get(member.id);
    if (entry === undefined) return;
    this.#members.delete(member.id);
    this.#owners.delete(nicknameKey(entry.nickname));
    this.#announce(PresenceKind.LEFT, member.id, entry.nickname, "", member.id);
  }

  /**
   * Gives a member a new nickname and tells everyone, the member included.
   * Returns false, changing nothing, when another member holds it.
   */
  rename(member: HubMember, nickname: string): boolean {
    const entry = this.#members.get(member.id);
    if (entry === undefined) return false;
    const key = nicknameKey(nickname);
    const owner = this.#owners.get(key);
    if (owner !== undefined && owner !== member.id) return false;
    const previous = entry.nickname;
    if (previous === nickname) {
      // Nothing changes for the others, but the member still gets its confirmation.
      member.send(this.#presence(PresenceKind.RENAMED, member.id, nickname, previous));
      return true;
    }
    this.#owners.delete(nicknameKey(previous));
    this.#owners.set(key, member.id);
    entry.nickname = nickname;
    this.#announce(PresenceKind.RENAMED, member.id, nickname, previous);
    return true;
  }

  /** Delivers one message to every member. */
  broadcast(message: ServerMessageInit): void {
    this.#deliver(encodeServerMessage(message));
  }

  /** Everyone online, in order of arrival. */
  who(): OnlineUser[] {
    return [...this.#members.values()].map(({ member, nickname }) => ({
      sessionId: member.id,
      nickname,
    }));
  }

  #announce(
    kind: PresenceKind,
    sessionId: bigint,
    nickname: string,
    previousNickname: string,
    exceptId?: bigint,
  ): void {
    this.#deliver(this.#presence(kind, sessionId, nickname, previousNickname), exceptId);
  }

  #presence(
    kind: PresenceKind,
    sessionId: bigint,
    nickname: string,
    previousNickname: string,
  ): Uint8Array {
    return encodeServerMessage({
      body: {
        case: "presence",
        value: { kind, sessionId, nickname, previousNickname, online: this.online },
      },
    });
  }

  #deliver(payload: Uint8Array, exceptId?: bigint): void {
    for (const { member } of this.#members.values()) {
      if (member.id !== exceptId) member.send(payload);
    }
  }
}
