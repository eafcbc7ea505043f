import { ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage, type ServerMessageInit } from "../protocol/codec.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { guestNickname, nicknameKey } from "../protocol/nickname.ts";
import type { Backplane, BackplaneListener, ClusterUser, HubEvent } from "./backplane.ts";
import { LocalBackplane } from "./local_backplane.ts";
import { realClock } from "../util/clock.ts";
import { BroadcastLog } from "../net/broadcast_log.ts";

/**
 * How long JOINED and LEFT notices may wait for company. A crowd arriving comes one
 * accept per event-loop turn, so flushing each turn would cost every member a write per
 * arrival; nobody notices 20 ms on a JOINED, and chat (or a rename) flushes whatever
 * waits at once.
 */
const PRESENCE_DELAY_MS = 20;

/**
 * A pass shorter than this is not spaced out: the next may run right after the task that
 * asks for it. Timers fire a millisecond late at best, so spacing a cheap pass would cost
 * a lone message more than the pass itself. A longer pass makes the next wait as long as
 * it took (see Hub).
 */
const CHEAP_PASS_MS = 1;

/**
 * Bytes the server may owe its members in all (what the log holds past each member's
 * written position, summed) before it stops reading from clients. Delivering them costs
 * time in proportion, and what the kernel already holds for a client it has not read
 * comes on top: past this, reading more only adds to what everyone waits for. Reading
 * resumes below half of it. Measured with ../shared/bench/compare.sh: at 1,000 clients,
 * 64 MiB gave a p99 of 680 ms, 4 MiB 48 ms for about the same throughput (BENCHMARKS.md).
 */
const HOLD_READS_OWED_BYTES = 4 * 1024 * 1024;

/** While reads are held, passes also run this often, to see when to resume. */
const HELD_PASS_MS = 5;

/** Anything the hub can deliver to: a session, whatever its transport. */
export interface HubMember {
  readonly id: bigint;
  /** Kept up to date by the hub, which may rename a member on its own (see nicknameLost). */
  nickname: string;
  /**
   * Queues an encoded ServerMessage for this member alone, behind every broadcast it is
   * due; must not wait for the write.
   */
  send(payload: Uint8Array): void;
  /** From now on the member gets `log`'s frames, from its head on. */
  follow(log: BroadcastLog): void;
  /**
   * Starts writing what the log gained since the member's last write, unless a write is in
   * flight. Returns the oldest log position the member has not been written yet, or
   * undefined once it no longer follows the log (it is closing, or was cut). `now` is
   * performance.now(), read once for the whole pass.
   */
  deliver(now: number): number | undefined;
  /**
   * True when the member's write has made no progress for a while: it is not reading.
   * Such a member does not hold reads back for everyone; it lags until it is cut.
   */
  readonly stalled?: boolean;
}

/** How the fan-out is doing, for the log and /metrics. */
export interface FanoutStats {
  /** Bytes the broadcast log holds. */
  logBytes: number;
  /** Bytes owed to members at the last pass, summed over them. */
  owedBytes: number;
  /** Members whose writes made no progress for a while, at the last pass. */
  stalledMembers: number;
  /** Times reads were held back. */
  readHolds: number;
  /** Passes over the members so far. */
  passes: number;
}

export interface OnlineUser {
  sessionId: bigint;
  nickname: string;
}

/** "unavailable": the nickname has to be claimed cluster-wide, and the cluster is out of reach. */
export type RenameResult = "renamed" | "taken" | "unavailable";

/**
 * The one place fan-out happens: membership, nicknames, presence and broadcasts.
 * Each event is encoded once into the broadcast log, which every local member reads
 * from its own position, in the order the hub accepted the events. A pass over the
 * members starts a write on each one that is due frames and not busy writing: per pass,
 * one write per member, however many broadcasts it carries. Under load a pass takes
 * long, and the next waits as long again, so that more broadcasts share each member's
 * next write rather than each costing every member a write of its own. When too much is
 * owed, reads are held back
 * (HOLD_READS_OWED_BYTES), so that TCP slows the publishers down.
 *
 * The backplane carries the same events to the other servers of a cluster and brings
 * theirs, which are appended to the log once, so presence, `who` and nickname
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
  /** The whole server's fan-out group: every member follows it. */
  readonly #log = new BroadcastLog(() => this.#schedulePass("soon"));
  /** How the next pass is due: as soon as passes may run (chat, renames), or PRESENCE_DELAY_MS later. */
  #passDue: "soon" | "later" | undefined;
  #passTimer: ReturnType<typeof setTimeout> | undefined;
  /** performance.now() before which no pass should start. */
  #nextPassAt = 0;
  #passes = 0;
  #owedBytes = 0;
  /**
   * What the last pass found: the log's head, the oldest position a reading member had not
   * been written, and how many members were reading and stalled.
   */
  #passHead = 0;
  #oldestReading = 0;
  #readingMembers = 0;
  #stalledMembers = 0;
  /** Resolved when reads resume; undefined while they may go on. */
  #readsHeld: PromiseWithResolvers<void> | undefined;
  #heldPassTimer: ReturnType<typeof setInterval> | undefined;
  #readHolds = 0;
  /** When reads last resumed (realClock), for the members' idle deadlines. */
  #readsResumedAt = 0;

  /** Past this many users online, JOINED and LEFT are not sent (see ServerOptions.presenceLimit). */
  readonly #presenceLimit: number;
  /** Reads are held back while a member that is reading lags the log by more than this. */
  readonly #holdReadsLagBytes: number;

  /**
   * `holdReadsLagBytes` is best below the lag at which sessions are cut as slow consumers,
   * so that a client reading slower than others publish slows them down rather than
   * being cut.
   */
  constructor(
    backplane: Backplane = new LocalBackplane(),
    presenceLimit = Infinity,
    holdReadsLagBytes = Infinity,
  ) {
    this.#backplane = backplane;
    this.#presenceLimit = presenceLimit;
    this.#holdReadsLagBytes = holdReadsLagBytes;
    backplane.start(this);
  }

  /** Users online in the whole cluster. */
  get online(): number {
    return this.#users.size;
  }

  /**
   * Adds a member and tells the others. The member follows the log from after its own
   * JOINED: what the log held before is not for it.
   */
  join(member: HubMember): void {
    const user: ClusterUser = {
      sessionId: member.id,
      nickname: member.nickname,
      node: this.#backplane.node,
      joinedAt: Date.now(),
    };
    this.#members.set(member.id, member);
    this.#addUser(user);
    member.follow(this.#log);
    this.#backplane.publish({ kind: "joined", user });
  }

  /**
   * Removes a member and tells the rest. Safe to call for a non-member. A member leaves as
   * its session closes, and a closing session takes no more frames.
   */
  leave(member: HubMember): void {
    if (!this.#members.has(member.id)) return;
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
   * A pass: starts a write on every member that is due frames and not busy writing, lets
   * the log go of what every member has been written, and holds reads back or resumes
   * them. Runs soon after a chat event or a rename; PRESENCE_DELAY_MS later for arrivals
   * and departures alone, so that a crowd's arrivals share one write per member; and when
   * a member's write ends with more due.
   */
  flush(): void {
    const startedAt = performance.now();
    clearTimeout(this.#passTimer);
    this.#passTimer = undefined;
    this.#passDue = undefined;
    this.#passes++;
    const log = this.#log;
    const head = log.head;
    let oldest = head;
    // Over the members that are reading: one that is not must not hold everyone back.
    let owed = 0;
    let oldestReading = head;
    let reading = 0;
    let stalled = 0;
    for (const member of this.#members.values()) {
      const unwritten = member.deliver(startedAt);
      if (unwritten === undefined) continue;
      if (unwritten < oldest) oldest = unwritten;
      if (member.stalled) {
        stalled++;
        continue;
      }
      reading++;
      owed += head - unwritten;
      if (unwritten < oldestReading) oldestReading = unwritten;
    }
    log.release(oldest);
    this.#owedBytes = owed;
    this.#passHead = head;
    this.#oldestReading = oldestReading;
    this.#readingMembers = reading;
    this.#stalledMembers = stalled;
    const lag = head - oldestReading;
    if (owed > HOLD_READS_OWED_BYTES || lag > this.#holdReadsLagBytes) this.#holdReads();
    else if (owed <= HOLD_READS_OWED_BYTES / 2 && lag <= this.#holdReadsLagBytes / 2) {
      this.#resumeReads();
    }
    const endedAt = performance.now();
    const took = endedAt - startedAt;
    this.#nextPassAt = took < CHEAP_PASS_MS ? 0 : endedAt + took;
  }

  /** While reads are held back (see ReceiveHandlers.readHold), resolves when they resume. */
  readHold(): Promise<void> | undefined {
    return this.#readsHeld?.promise;
  }

  /** When members could last be heard (realClock): now while reads are held back. */
  get readsAllowedSince(): number {
    return this.#readsHeld === undefined ? this.#readsResumedAt : realClock.now();
  }

  fanoutStats(): FanoutStats {
    return {
      logBytes: this.#log.retainedBytes,
      owedBytes: this.#owedBytes,
      stalledMembers: this.#stalledMembers,
      readHolds: this.#readHolds,
      passes: this.#passes,
    };
  }

  /** Stops the pass timers and lets held reads go on: for the server's shutdown. */
  [Symbol.dispose](): void {
    clearTimeout(this.#passTimer);
    this.#passTimer = undefined;
    this.#resumeReads();
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

  #addUser(user: ClusterUser): void {
    this.#users.set(user.sessionId, user);
    this.#owners.set(nicknameKey(user.nickname), user.sessionId);
    // A notice to everyone for each arrival makes N arrivals cost N² frames: past the limit,
    // `who` answers instead.
    if (this.online <= this.#presenceLimit) {
      this.#announce(PresenceKind.JOINED, user.sessionId, user.nickname, "");
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
  ): void {
    // A rename answers a user waiting for it; arrivals and departures come in crowds.
    const due = kind === PresenceKind.RENAMED ? "soon" : "later";
    this.#queue(this.#presence(kind, sessionId, nickname, previousNickname), due);
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

  /** Appends an event to the log for every member, and holds reads back if that is too much. */
  #queue(payload: Uint8Array, due: "soon" | "later" = "soon"): void {
    const log = this.#log;
    log.append(payload);
    this.#schedulePass(due);
    // Passes may be spaced out, and reads go on meanwhile: what the last pass found, plus
    // what came since, is already enough to hold them back.
    if (
      this.#readsHeld === undefined &&
      (log.head - this.#oldestReading > this.#holdReadsLagBytes ||
        this.#owedBytes + (log.head - this.#passHead) * this.#readingMembers >
          HOLD_READS_OWED_BYTES)
    ) this.#holdReads();
  }

  /** Chat goes out as soon as passes may run: latency matters more than a shared write. */
  #schedulePass(due: "soon" | "later"): void {
    if (this.#passDue === "soon" || (due === "later" && this.#passDue === "later")) return;
    clearTimeout(this.#passTimer);
    this.#passDue = due;
    const wait = due === "later" ? PRESENCE_DELAY_MS : this.#nextPassAt - performance.now();
    if (wait > 0) this.#passTimer = setTimeout(() => this.flush(), wait);
    else {
      // After the current task, so that what it accepts shares the pass.
      this.#passTimer = undefined;
      queueMicrotask(() => {
        if (this.#passDue === "soon") this.flush();
      });
    }
  }

  #holdReads(): void {
    if (this.#readsHeld !== undefined) return;
    this.#readsHeld = Promise.withResolvers();
    this.#readHolds++;
    // No frames arrive while reads are held, so nothing else would start a pass.
    this.#heldPassTimer = setInterval(() => this.flush(), HELD_PASS_MS);
  }

  #resumeReads(): void {
    if (this.#readsHeld === undefined) return;
    clearInterval(this.#heldPassTimer);
    this.#readsResumedAt = realClock.now();
    this.#readsHeld.resolve();
    this.#readsHeld = undefined;
  }
}
