import { ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage, type ServerMessageInit } from "../protocol/codec.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { guestNickname, nicknameKey } from "../protocol/nickname.ts";
import type { Backplane, BackplaneListener, ClusterUser, HubEvent } from "./backplane.ts";
import { LocalBackplane } from "./local_backplane.ts";
import { FramedBatch, type OutboundChunk } from "../net/framed_batch.ts";

/**
 * How long JOINED and LEFT notices may wait for company. A crowd arriving comes one
 * accept per event-loop turn, so flushing each turn would cost every member a write per
 * arrival; nobody notices 20 ms on a JOINED, and chat (or a rename) flushes whatever
 * waits at once.
 */
const PRESENCE_DELAY_MS = 20;

/** Anything the hub can deliver to: a session, whatever its transport. */
export interface HubMember {
  readonly id: bigint;
  /** Kept up to date by the hub, which may rename a member on its own (see nicknameLost). */
  nickname: string;
  /** Queues an encoded ServerMessage or a shared batch of them; must not wait for the write. */
  send(chunk: OutboundChunk): void;
}

export interface OnlineUser {
  sessionId: bigint;
  nickname: string;
}

/** "unavailable": the nickname has to be claimed cluster-wide, and the cluster is out of reach. */
export type RenameResult = "renamed" | "taken" | "unavailable";

/**
 * The one place fan-out happens: membership, nicknames, presence and broadcasts.
 * Each event is encoded once and the same bytes are queued on every local member, in
 * the order the hub accepted the events. The backplane carries the same events to
 * the other servers of a cluster and brings theirs, so presence, `who` and nickname
 * uniqueness cover the whole cluster; alone, the hub is all there is.
 */
export class Hub implements BackplaneListener {
  readonly #backplane: Backplane;
  /** The sessions of this server. */
  readonly #members = new Map<bigint, HubMember>();
  /** Every user of the cluster, this server's included. */
  readonly #users = new Map<bigint, ClusterUser>();
  /** Nickname key -> the session holding or claiming it, for case-insensitive uniqueness. */
  readonly #owners = new Map<string, bigint>();
  /** Events accepted since the last flush: they go to every member as one shared batch. */
  #batch: Uint8Array[] = [];
  /** Members that must not get some of the batch (a newcomer, its own JOINED), by index. */
  #batchExceptions = new Map<bigint, Set<number>>();
  /** How the next flush is due: right after this task (chat, renames), or PRESENCE_DELAY_MS later. */
  #flushDue: "task" | "later" | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  /** Past this many users online, JOINED and LEFT are not sent (see ServerOptions.presenceLimit). */
  readonly #presenceLimit: number;

  constructor(backplane: Backplane = new LocalBackplane(), presenceLimit = Infinity) {
    this.#backplane = backplane;
    this.#presenceLimit = presenceLimit;
    backplane.start(this);
  }

  /** Users online in the whole cluster. */
  get online(): number {
    return this.#users.size;
  }

  /**
   * Adds a member and tells the others. What the batch holds already is not for the
   * newcomer, which joined after it; left out for it rather than flushed to everyone, so
   * that a crowd arriving costs each member one write per batch, not one per arrival.
   */
  join(member: HubMember): void {
    for (let index = 0; index < this.#batch.length; index++) this.#exclude(member.id, index);
    const user: ClusterUser = {
      sessionId: member.id,
      nickname: member.nickname,
      node: this.#backplane.node,
      joinedAt: Date.now(),
    };
    this.#members.set(member.id, member);
    this.#addUser(user, member.id);
    this.#backplane.publish({ kind: "joined", user });
  }

  /**
   * Removes a member and tells the rest. Safe to call for a non-member. The batch is not
   * flushed for it, so that a crowd leaving costs no write per departure: a member leaves
   * as its session closes, and a closing session takes no more frames.
   */
  leave(member: HubMember): void {
    if (!this.#members.has(member.id)) return;
    this.#batchExceptions.delete(member.id);
    this.#members.delete(member.id);
    this.#removeUser(member.id);
    this.#backplane.publish({ kind: "left", sessionId: member.id });
  }

  /**
   * Gives a member a new nickname and tells everyone, the member included. Changes
   * nothing unless the answer is "renamed". Synchronous when the server runs alone.
   */
  rename(member: HubMember, nickname: string): RenameResult | Promise<RenameResult> {
    const user = this.#users.get(member.id);
    if (user === undefined || !this.#members.has(member.id)) return "taken";
    const key = nicknameKey(nickname);
    const owner = this.#owners.get(key);
    if (owner !== undefined && owner !== member.id) return "taken";
    if (member.nickname === nickname) {
      // Nothing changes for the others, but the member still gets its confirmation.
      this.flush();
      member.send(this.#presence(PresenceKind.RENAMED, member.id, nickname, nickname));
      return "renamed";
    }
    // Reserved while the claim is out, so that no local session claims it meanwhile.
    this.#owners.set(key, member.id);
    const previousKey = nicknameKey(member.nickname);
    const settle = (claim: "claimed" | "taken" | "unavailable"): RenameResult => {
      if (claim === "claimed" && this.#members.has(member.id)) {
        this.#rename(member.id, nickname);
        this.#backplane.publish({ kind: "renamed", sessionId: member.id, nickname });
        return "renamed";
      }
      if (key !== previousKey && this.#owners.get(key) === member.id) this.#owners.delete(key);
      return claim === "claimed" ? "taken" : claim;
    };
    const claim = this.#backplane.claimNickname({ ...user, nickname }, key, previousKey);
    return claim instanceof Promise
      ? claim.then(settle, () => settle("unavailable"))
      : settle(claim);
  }

  /** Delivers one message to every member of the cluster. */
  broadcast(message: ServerMessageInit): void {
    const payload = encodeServerMessage(message);
    this.#queue(payload);
    this.#backplane.publish({ kind: "chat", payload });
  }

  /**
   * Sends the events accepted so far to every member. Runs after the task that accepted
   * a chat event or a rename; PRESENCE_DELAY_MS later for arrivals and departures alone,
   * so that a crowd's arrivals share one write per member; and before anything else is
   * sent to any member, so every member gets its frames in the order the hub accepted
   * them. Framed once for all: a member with nothing else queued writes the shared bytes
   * as they are.
   */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushDue = undefined;
    if (this.#batch.length === 0) return;
    const payloads = this.#batch;
    const exceptions = this.#batchExceptions;
    this.#batch = [];
    this.#batchExceptions = new Map();
    const shared = new FramedBatch(payloads);
    for (const member of this.#members.values()) {
      const excluded = exceptions.get(member.id);
      if (excluded === undefined) {
        member.send(shared);
        continue;
      }
      const own = payloads.filter((_, index) => !excluded.has(index));
      if (own.length > 0) member.send(new FramedBatch(own));
    }
  }

  /** Everyone online in the cluster, in order of arrival. */
  who(): OnlineUser[] {
    return [...this.#users.values()]
      // Stable: users who joined in the same millisecond keep the order this hub saw them in.
      .sort((a, b) => a.joinedAt - b.joinedAt)
      .map(({ sessionId, nickname }) => ({ sessionId, nickname }));
  }

  remote(event: HubEvent): void {
    switch (event.kind) {
      case "chat":
        return this.#queue(event.payload);
      case "joined":
        if (!this.#users.has(event.user.sessionId)) this.#addUser({ ...event.user });
        return;
      case "left":
        return this.#removeUser(event.sessionId);
      case "renamed":
        return this.#rename(event.sessionId, event.nickname);
    }
  }

  serverUsers(node: number, users: ClusterUser[]): void {
    // This server's own users are its members; nobody else speaks for them.
    if (node === this.#backplane.node) return;
    const now = new Map(users.map((user) => [user.sessionId, user]));
    for (const user of this.#usersOf(node)) {
      if (!now.has(user.sessionId)) this.#removeUser(user.sessionId);
    }
    for (const user of users) {
      if (this.#members.has(user.sessionId)) continue;
      const known = this.#users.get(user.sessionId);
      if (known === undefined) this.#addUser({ ...user });
      else if (known.nickname !== user.nickname) this.#rename(user.sessionId, user.nickname);
    }
  }

  serverGone(node: number): void {
    if (node === this.#backplane.node) return;
    for (const user of this.#usersOf(node)) this.#removeUser(user.sessionId);
  }

  nicknameLost(sessionId: bigint): void {
    const member = this.#members.get(sessionId);
    if (member === undefined) return;
    const lost = member.nickname;
    const guest = guestNickname(sessionId);
    this.#rename(sessionId, guest);
    this.#backplane.publish({ kind: "renamed", sessionId, nickname: guest });
    this.flush();
    member.send(encodeServerMessage(errorMessage(
      ErrorCode.NICKNAME_TAKEN,
      `Nickname "${lost}" was taken on another server while this one was cut off; you are ${guest} again`,
    )));
  }

  localUsers(): ClusterUser[] {
    const users: ClusterUser[] = [];
    for (const id of this.#members.keys()) {
      const user = this.#users.get(id);
      if (user === undefined) continue;
      // The backplane may have taken a new number since (see RedisBackplane): ours is current.
      user.node = this.#backplane.node;
      users.push(user);
    }
    return users;
  }

  localUser(sessionId: bigint): ClusterUser | undefined {
    return this.#members.has(sessionId) ? this.#users.get(sessionId) : undefined;
  }

  /** Another server's users; never a member of this one, whatever its number says. */
  #usersOf(node: number): ClusterUser[] {
    return [...this.#users.values()].filter((user) =>
      user.node === node && !this.#members.has(user.sessionId)
    );
  }

  #addUser(user: ClusterUser, exceptId?: bigint): void {
    this.#users.set(user.sessionId, user);
    this.#owners.set(nicknameKey(user.nickname), user.sessionId);
    // A notice to everyone for each arrival makes N arrivals cost N² frames: past the limit,
    // `who` answers instead.
    if (this.online <= this.#presenceLimit) {
      this.#announce(PresenceKind.JOINED, user.sessionId, user.nickname, "", exceptId);
    }
  }

  #removeUser(sessionId: bigint): void {
    const user = this.#users.get(sessionId);
    if (user === undefined) return;
    this.#users.delete(sessionId);
    this.#release(nicknameKey(user.nickname), sessionId);
    // Counted before the departure, as arrivals are after theirs: the same room either way.
    if (this.online + 1 <= this.#presenceLimit) {
      this.#announce(PresenceKind.LEFT, sessionId, user.nickname, "");
    }
  }

  #rename(sessionId: bigint, nickname: string): void {
    const user = this.#users.get(sessionId);
    if (user === undefined || user.nickname === nickname) return;
    const previous = user.nickname;
    this.#release(nicknameKey(previous), sessionId);
    this.#owners.set(nicknameKey(nickname), sessionId);
    user.nickname = nickname;
    const member = this.#members.get(sessionId);
    if (member !== undefined) member.nickname = nickname;
    this.#announce(PresenceKind.RENAMED, sessionId, nickname, previous);
  }

  #release(key: string, sessionId: bigint): void {
    if (this.#owners.get(key) === sessionId) this.#owners.delete(key);
  }

  #announce(
    kind: PresenceKind,
    sessionId: bigint,
    nickname: string,
    previousNickname: string,
    exceptId?: bigint,
  ): void {
    // A rename answers a user waiting for it; arrivals and departures come in crowds.
    const due = kind === PresenceKind.RENAMED ? "task" : "later";
    this.#queue(this.#presence(kind, sessionId, nickname, previousNickname), exceptId, due);
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

  /** Chat waits for the current task only: latency matters more than a shared write. */
  #queue(payload: Uint8Array, exceptId?: bigint, due: "task" | "later" = "task"): void {
    if (due === "task" && this.#flushDue !== "task") {
      this.#flushDue = "task";
      queueMicrotask(() => this.flush());
    } else if (this.#flushDue === undefined) {
      this.#flushDue = "later";
      this.#flushTimer = setTimeout(() => this.flush(), PRESENCE_DELAY_MS);
    }
    if (exceptId !== undefined) this.#exclude(exceptId, this.#batch.length);
    this.#batch.push(payload);
  }

  /** Keeps the batch's payload at `index` from member `id`. */
  #exclude(id: bigint, index: number): void {
    const excluded = this.#batchExceptions.get(id);
    if (excluded === undefined) this.#batchExceptions.set(id, new Set([index]));
    else excluded.add(index);
  }
}
