import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage, type ServerMessageInit } from "../protocol/codec.ts";
import { chatEventFrame, writeChatEvent } from "../protocol/chat_event_writer.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { guestNickname, nicknameKey } from "../protocol/nickname.ts";
import { LOBBY, MAX_ROOMS_PER_SESSION } from "../protocol/room_name.ts";
import type { Backplane, BackplaneListener, ClusterUser, HubEvent } from "./backplane.ts";
import { LocalBackplane } from "./local_backplane.ts";
import { realClock } from "../util/clock.ts";
import { AppendOrder, type BroadcastLog } from "../net/broadcast_log.ts";
import type { HistoryStore } from "./history/history_store.ts";
import { NullHistory } from "./history/null_history.ts";
import { Room } from "./room.ts";

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
  /** The member gets no more of `log`'s frames than it was due by now. */
  unfollow(log: BroadcastLog): void;
  /**
   * Starts writing what its logs gained since the member's last write, unless a write is
   * in flight. Returns the oldest position of `log` the member has not been written yet,
   * or undefined once it no longer follows it (it is closing, or was cut). `now` is
   * performance.now(), read once for the whole pass: a member of several rooms is
   * delivered to once for each.
   */
  deliver(now: number, log: BroadcastLog): number | undefined;
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
  /** Rooms this server holds: with members here or elsewhere in the cluster. */
  rooms: number;
}

export interface OnlineUser {
  sessionId: bigint;
  nickname: string;
}

/** "unavailable": the nickname has to be claimed cluster-wide, and the cluster is out of reach. */
export type RenameResult = "renamed" | "taken" | "unavailable";

/** "full": the member is in MAX_ROOMS_PER_SESSION rooms; "limit": the server has maxRooms. */
export type JoinResult = "joined" | "member" | "full" | "limit";

export type PrivateResult = "sent" | "no_such_user" | "unavailable";

/** What became of a chat message (see Hub.chat). */
export type ChatResult = "sent" | "not_in_room" | Promise<void>;

/** A chat message as a handler hands it to the hub; the hub adds the room and the event id. */
export interface ChatMessage {
  content: string;
  fromSessionId: bigint;
  fromNickname: string;
  clientSeq: bigint;
  sentAtUnixMs: number;
}

export interface RoomInfo {
  name: string;
  members: number;
}

export interface HubRoomOptions {
  /** Where room messages are kept and numbered. @default NullHistory (not kept) */
  history: HistoryStore;
  /** Rooms this server keeps at once; joining a new one past it is refused. @default Infinity */
  maxRooms: number;
}

/**
 * The one place fan-out happens: membership, rooms, nicknames, presence and broadcasts.
 * A room is a fan-out group: each event is encoded once into the room's broadcast log,
 * which every local member of the room reads from its own position, in the order the hub
 * accepted the events. A pass over the
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
  /** Rooms with a member or a user in the cluster, by key; the lobby always. */
  readonly #rooms = new Map<string, Room>();
  readonly #lobby: Room;
  /** Rooms whose logs gained frames or still owe some: the next pass goes over these. */
  readonly #dirtyRooms = new Set<Room>();
  /** Numbers every room's appends: a member of several gets their frames in that order. */
  readonly #appendOrder = new AppendOrder();
  readonly #history: HistoryStore;
  readonly #maxRooms: number;
  /** How the next pass is due: as soon as passes may run (chat, renames), or PRESENCE_DELAY_MS later. */
  #passDue: "soon" | "later" | undefined;
  #passTimer: ReturnType<typeof setTimeout> | undefined;
  /** performance.now() before which no pass should start. */
  #nextPassAt = 0;
  #passes = 0;
  #owedBytes = 0;
  /** Members whose writes made no progress, at the last pass. */
  #stalledMembers = 0;
  /** Resolved when reads resume; undefined while they may go on. */
  #readsHeld: PromiseWithResolvers<void> | undefined;
  #heldPassTimer: ReturnType<typeof setInterval> | undefined;
  #readHolds = 0;
  /** When reads last resumed (realClock), for the members' idle deadlines. */
  #readsResumedAt = 0;

  /** Past this many users in a room, JOINED and LEFT are not sent there (see ServerOptions.presenceLimit). */
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
    rooms: Partial<HubRoomOptions> = {},
  ) {
    this.#backplane = backplane;
    this.#presenceLimit = presenceLimit;
    this.#holdReadsLagBytes = holdReadsLagBytes;
    this.#history = rooms.history ?? new NullHistory();
    this.#maxRooms = rooms.maxRooms ?? Infinity;
    this.#lobby = this.#room(LOBBY)!;
    this.#history.retain?.((room) => this.#rooms.has(room));
    backplane.start(this);
  }

  /** Users online in the whole cluster. */
  get online(): number {
    return this.#users.size;
  }

  /**
   * Adds a member, in the lobby, and tells the lobby. The member follows the lobby's log
   * from after its own JOINED: what the log held before is not for it.
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
    this.#lobby.members.set(member.id, member);
    member.follow(this.#lobby.log);
    this.#backplane.publish({ kind: "joined", user });
  }

  /**
   * Removes a member from the server and its rooms, and tells them. Safe to call for a
   * non-member. A member leaves as its session closes, and a closing session takes no
   * more frames.
   */
  leave(member: HubMember): void {
    if (!this.#members.has(member.id)) return;
    const user = this.#users.get(member.id);
    if (user !== undefined) {
      for (const key of roomsOf(user)) this.#rooms.get(key)?.members.delete(member.id);
    }
    this.#members.delete(member.id);
    this.#removeUser(member.id);
    this.#backplane.publish({ kind: "left", sessionId: member.id });
  }

  /**
   * Puts a member in a room (a valid, lower-case name), creating the room if need be, and
   * tells the room. The member follows the room's log from after its own JOINED.
   */
  joinRoom(member: HubMember, key: string): JoinResult {
    const user = this.#users.get(member.id);
    // A session that has begun to close is out of the chat: there is nothing to join.
    if (user === undefined || !this.#members.has(member.id)) return "member";
    const rooms = roomsOf(user);
    if (rooms.includes(key)) return "member";
    if (rooms.length >= MAX_ROOMS_PER_SESSION) return "full";
    const room = this.#room(key);
    if (room === undefined) return "limit";
    user.rooms = [...rooms, key];
    this.#userJoinedRoom(user, room);
    room.members.set(member.id, member);
    member.follow(room.log);
    this.#backplane.publish({ kind: "room_joined", sessionId: member.id, room: key });
    return "joined";
  }

  /** Takes a member out of a room and tells the room; false when it was not in it. */
  partRoom(member: HubMember, key: string): boolean {
    const user = this.#users.get(member.id);
    const room = this.#rooms.get(key);
    if (user === undefined || room === undefined || !room.members.has(member.id)) return false;
    room.members.delete(member.id);
    // What the room's log held up to now still reaches the member, before its RoomParted.
    member.unfollow(room.log);
    user.rooms = roomsOf(user).filter((name) => name !== key);
    this.#userLeftRoom(user, room);
    this.#backplane.publish({ kind: "room_left", sessionId: member.id, room: key });
    return true;
  }

  /** True when the member is in the room. */
  isInRoom(member: HubMember, key: string): boolean {
    return this.#rooms.get(key)?.members.has(member.id) ?? false;
  }

  /** Rooms with users in the cluster, the most crowded first. */
  rooms(): RoomInfo[] {
    return [...this.#rooms.values()]
      .filter((room) => room.users.size > 0)
      .map((room) => ({ name: room.key, members: room.users.size }))
      .sort((a, b) => b.members - a.members || (a.name < b.name ? -1 : 1));
  }

  /** Users of the cluster in a room, 0 when it has none. */
  roomMembers(key: string): number {
    return this.#rooms.get(key)?.users.size ?? 0;
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
      member.send(this.#presence(this.#lobby, PresenceKind.RENAMED, member.id, nickname, nickname));
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

  /**
   * Adds a member under `nickname`, claimed first (cluster-wide), as `join` does: for a
   * session nobody may see before it has its name (--require-account). Changes nothing
   * unless the answer is "renamed"; a member already is simply renamed.
   */
  admit(member: HubMember, nickname: string): RenameResult | Promise<RenameResult> {
    if (this.#members.has(member.id)) return this.rename(member, nickname);
    const key = nicknameKey(nickname);
    if (this.#owners.has(key)) return "taken";
    // Reserved while the claim is out, so that no local session claims it meanwhile.
    this.#owners.set(key, member.id);
    const user: ClusterUser = {
      sessionId: member.id,
      nickname,
      node: this.#backplane.node,
      joinedAt: Date.now(),
    };
    const settle = (claim: "claimed" | "taken" | "unavailable"): RenameResult => {
      if (this.#owners.get(key) === member.id) this.#owners.delete(key);
      if (claim !== "claimed") return claim;
      member.nickname = nickname;
      this.join(member);
      return "renamed";
    };
    const claim = this.#backplane.claimNickname(user, key, nicknameKey(member.nickname));
    return claim instanceof Promise
      ? claim.then(settle, () => settle("unavailable"))
      : settle(claim);
  }

  /** Delivers one message to every member of the lobby, in the whole cluster; not numbered or kept. */
  broadcast(message: ServerMessageInit): void {
    const payload = encodeServerMessage(message);
    this.#queue(this.#lobby, payload);
    this.#backplane.publish({ kind: "chat", payload });
  }

  /**
   * Delivers a chat message to every member of a room the sender is in, across the
   * cluster, numbered and kept by the history store. A promise when the cluster numbers
   * it: the message goes out once numbered, and the sender's next frames should wait for
   * that, so that nothing it does later overtakes it.
   */
  chat(member: HubMember, key: string, message: ChatMessage): ChatResult {
    const room = this.#rooms.get(key);
    if (room === undefined || !room.members.has(member.id)) return "not_in_room";
    const chatEvent = writeChatEvent({
      action: Action.BROADCAST,
      content: message.content,
      fromSessionId: message.fromSessionId,
      fromNickname: message.fromNickname,
      clientSeq: message.clientSeq,
      sentAtUnixMs: BigInt(message.sentAtUnixMs),
      room: room.wireName,
    })!;
    const eventId = this.#history.append(
      key,
      chatEvent,
      message.sentAtUnixMs,
      room.highestEventId,
    );
    if (typeof eventId !== "bigint") {
      // Unnumbered rather than lost, should the store fail in a way it did not foresee.
      return eventId.then(
        (id) => this.#publishChat(key, id, chatEvent),
        () => this.#publishChat(key, 0n, chatEvent),
      );
    }
    this.#publishChat(key, eventId, chatEvent);
    return "sent";
  }

  /**
   * Sends a private message to the user of that nickname, wherever in the cluster, and
   * the sender its copy; "no_such_user" when nobody online has the nickname,
   * "unavailable" when the user is on another server and the cluster is out of reach.
   */
  privateMessage(
    member: HubMember,
    toNickname: string,
    message: ChatMessage,
  ): PrivateResult {
    const sessionId = this.#owners.get(nicknameKey(toNickname));
    const recipient = sessionId === undefined ? undefined : this.#users.get(sessionId);
    if (recipient === undefined || nicknameKey(recipient.nickname) !== nicknameKey(toNickname)) {
      return "no_such_user";
    }
    const fields = {
      action: Action.PRIVATE,
      content: message.content,
      fromSessionId: message.fromSessionId,
      fromNickname: message.fromNickname,
      clientSeq: message.clientSeq,
      sentAtUnixMs: BigInt(message.sentAtUnixMs),
    };
    const payload = encodeServerMessage({ body: { case: "chat", value: fields } });
    const local = this.#members.get(recipient.sessionId);
    if (local === undefined && this.#backplane.stats().state === "disconnected") {
      return "unavailable";
    }
    // The sender's copy first: one who writes to itself sees what it sent, then what came.
    member.send(encodeServerMessage({
      body: { case: "chat", value: { ...fields, toNickname: recipient.nickname } },
    }));
    if (local !== undefined) local.send(payload);
    else {
      this.#backplane.publish({
        kind: "private",
        sessionId: recipient.sessionId,
        payload,
        node: recipient.node,
      });
    }
    return "sent";
  }

  /** Sends a numbered message; a promise while it waits in its room for its predecessor. */
  #publishChat(key: string, eventId: bigint, chatEvent: Uint8Array): Promise<void> | undefined {
    const payload = chatEventFrame(chatEvent, eventId, false);
    this.#backplane.publish({ kind: "chat", payload, room: key, eventId });
    const room = this.#rooms.get(key);
    return room === undefined ? undefined : this.#appendNumbered(room, eventId, payload);
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
    let owed = 0;
    let lag = 0;
    const stalled = new Set<HubMember>();
    for (const room of this.#dirtyRooms) {
      const log = room.log;
      const head = log.head;
      let oldest = head;
      // Over the members that are reading: one that is not must not hold everyone back.
      let roomOwed = 0;
      let oldestReading = head;
      let reading = 0;
      for (const member of room.members.values()) {
        const unwritten = member.deliver(startedAt, log);
        if (unwritten === undefined) continue;
        if (unwritten < oldest) oldest = unwritten;
        if (member.stalled) {
          stalled.add(member);
          continue;
        }
        reading++;
        roomOwed += head - unwritten;
        if (unwritten < oldestReading) oldestReading = unwritten;
      }
      log.release(oldest);
      room.owedBytes = roomOwed;
      room.passHead = head;
      room.oldestReading = oldestReading;
      room.readingMembers = reading;
      owed += roomOwed;
      if (head - oldestReading > lag) lag = head - oldestReading;
      // A room all caught up needs no pass until it gains frames again.
      if (oldest === head) this.#dirtyRooms.delete(room);
      if (room.isEmpty && room !== this.#lobby) this.#forget(room);
    }
    this.#owedBytes = owed;
    this.#stalledMembers = stalled.size;
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
    let logBytes = 0;
    for (const room of this.#rooms.values()) logBytes += room.log.retainedBytes;
    return {
      logBytes,
      owedBytes: this.#owedBytes,
      stalledMembers: this.#stalledMembers,
      readHolds: this.#readHolds,
      passes: this.#passes,
      rooms: this.#rooms.size,
    };
  }

  /** Stops the pass timers and lets held reads go on: for the server's shutdown. */
  [Symbol.dispose](): void {
    clearTimeout(this.#passTimer);
    this.#passTimer = undefined;
    for (const room of this.#rooms.values()) room[Symbol.dispose]();
    this.#resumeReads();
  }

  /** Everyone online in the cluster, or in one room of it, in order of arrival. */
  who(room?: string): OnlineUser[] {
    const users = room === undefined
      ? [...this.#users.values()]
      : [...this.#rooms.get(room)?.users ?? []].map((id) => this.#users.get(id)!);
    return users
      // Stable: users who joined in the same millisecond keep the order this hub saw them in.
      .sort((a, b) => a.joinedAt - b.joinedAt)
      .map(({ sessionId, nickname }) => ({ sessionId, nickname }));
  }

  remote(event: HubEvent): void {
    switch (event.kind) {
      case "chat": {
        // A room with no member here still counts its ids, for when one joins.
        const room = this.#rooms.get(event.room ?? LOBBY);
        if (room !== undefined) this.#appendNumbered(room, event.eventId ?? 0n, event.payload);
        return;
      }
      case "private":
        return this.#members.get(event.sessionId)?.send(event.payload);
      case "room_joined": {
        const user = this.#users.get(event.sessionId);
        if (user === undefined || this.#members.has(event.sessionId)) return;
        const rooms = roomsOf(user);
        if (rooms.includes(event.room)) return;
        user.rooms = [...rooms, event.room];
        const room = this.#room(event.room, true);
        if (room !== undefined) this.#userJoinedRoom(user, room);
        return;
      }
      case "room_left": {
        const user = this.#users.get(event.sessionId);
        const room = this.#rooms.get(event.room);
        if (user === undefined || this.#members.has(event.sessionId)) return;
        user.rooms = roomsOf(user).filter((name) => name !== event.room);
        if (room !== undefined) this.#userLeftRoom(user, room);
        return;
      }
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
      if (known === undefined) {
        this.#addUser({ ...user });
        continue;
      }
      if (known.nickname !== user.nickname) this.#rename(user.sessionId, user.nickname);
      this.#setRooms(known, roomsOf(user));
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
    for (const key of roomsOf(user)) {
      const room = this.#room(key, true);
      if (room !== undefined) this.#userJoinedRoom(user, room);
    }
  }

  #removeUser(sessionId: bigint): void {
    const user = this.#users.get(sessionId);
    if (user === undefined) return;
    this.#users.delete(sessionId);
    this.#release(nicknameKey(user.nickname), sessionId);
    for (const key of roomsOf(user)) {
      const room = this.#rooms.get(key);
      if (room !== undefined) this.#userLeftRoom(user, room);
    }
  }

  /** Brings a remote user's rooms up to date with what its server says. */
  #setRooms(user: ClusterUser, rooms: readonly string[]): void {
    const before = roomsOf(user);
    user.rooms = [...rooms];
    for (const key of before) {
      const room = this.#rooms.get(key);
      if (!rooms.includes(key) && room !== undefined) this.#userLeftRoom(user, room);
    }
    for (const key of rooms) {
      const room = before.includes(key) ? undefined : this.#room(key, true);
      if (room !== undefined) this.#userJoinedRoom(user, room);
    }
  }

  #userJoinedRoom(user: ClusterUser, room: Room): void {
    room.users.add(user.sessionId);
    // A notice to everyone for each arrival makes N arrivals cost N² frames: past the limit,
    // `who` answers instead.
    if (room.users.size <= this.#presenceLimit) {
      this.#announce(room, PresenceKind.JOINED, user.sessionId, user.nickname, "");
    }
  }

  #userLeftRoom(user: ClusterUser, room: Room): void {
    if (!room.users.delete(user.sessionId)) return;
    // Counted before the departure, as arrivals are after theirs: the same room either way.
    if (room.users.size + 1 <= this.#presenceLimit) {
      this.#announce(room, PresenceKind.LEFT, user.sessionId, user.nickname, "");
    }
    if (room.isEmpty && room !== this.#lobby && !this.#dirtyRooms.has(room)) this.#forget(room);
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
    const rooms = roomsOf(user);
    for (const key of rooms) {
      const room = this.#rooms.get(key);
      if (room !== undefined) {
        this.#announce(room, PresenceKind.RENAMED, sessionId, nickname, previous);
      }
    }
    // The renamed member's confirmation, when no room of its own carries it.
    if (member !== undefined && rooms.length === 0) {
      member.send(this.#presence(this.#lobby, PresenceKind.RENAMED, sessionId, nickname, previous));
    }
  }

  #release(key: string, sessionId: bigint): void {
    if (this.#owners.get(key) === sessionId) this.#owners.delete(key);
  }

  #announce(
    room: Room,
    kind: PresenceKind,
    sessionId: bigint,
    nickname: string,
    previousNickname: string,
  ): void {
    // A rename answers a user waiting for it; arrivals and departures come in crowds.
    const due = kind === PresenceKind.RENAMED ? "soon" : "later";
    this.#queue(room, this.#presence(room, kind, sessionId, nickname, previousNickname), due);
  }

  #presence(
    room: Room,
    kind: PresenceKind,
    sessionId: bigint,
    nickname: string,
    previousNickname: string,
  ): Uint8Array {
    return encodeServerMessage({
      body: {
        case: "presence",
        value: {
          kind,
          sessionId,
          nickname,
          previousNickname,
          online: this.online,
          room: room.wireName,
        },
      },
    });
  }

  /** A numbered chat event, in id order, for the room's members; and a pass soon. */
  #appendNumbered(room: Room, eventId: bigint, payload: Uint8Array): Promise<void> | undefined {
    const waiting = room.appendNumbered(eventId, payload);
    this.#roomWants(room, "soon");
    return waiting;
  }

  /** Appends an event to a room's log, and holds reads back if that is too much. */
  #queue(room: Room, payload: Uint8Array, due: "soon" | "later" = "soon"): void {
    room.append(payload);
    this.#roomWants(room, due);
  }

  /** The room's log gained frames, or a member wants more of it: a pass is due. */
  #roomWants(room: Room, due: "soon" | "later"): void {
    // A forgotten room's last words (a write ending after it went) need no pass.
    if (this.#rooms.get(room.key) !== room) return;
    this.#dirtyRooms.add(room);
    this.#schedulePass(due);
    // Passes may be spaced out, and reads go on meanwhile: what the last pass found, plus
    // what came since, is already enough to hold them back.
    const head = room.log.head;
    if (
      this.#readsHeld === undefined &&
      (head - room.oldestReading > this.#holdReadsLagBytes ||
        this.#owedBytes + (head - room.passHead) * room.readingMembers > HOLD_READS_OWED_BYTES)
    ) this.#holdReads();
  }

  /**
   * The room of that key, made if need be; undefined when it would be one too many
   * (`always` for a room a user of another server is in: that server counted it).
   */
  #room(key: string, always = false): Room | undefined {
    let room = this.#rooms.get(key);
    if (room !== undefined) return room;
    if (!always && this.#rooms.size >= this.#maxRooms) return undefined;
    room = new Room(key, (wanting) => this.#roomWants(wanting, "soon"), this.#appendOrder);
    // Ids from the cluster: learn where the room's order begins before taking any.
    const lastId = this.#history.lastEventId?.(key);
    if (lastId !== undefined) room.startAfter(lastId);
    // A new room's log starts where its first reader does: nobody lags it.
    room.passHead = room.oldestReading = room.log.head;
    this.#rooms.set(key, room);
    return room;
  }

  #forget(room: Room): void {
    room[Symbol.dispose]();
    // By identity: a room of that name made since is another one.
    if (this.#rooms.get(room.key) === room) this.#rooms.delete(room.key);
    this.#dirtyRooms.delete(room);
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

const LOBBY_ONLY: readonly string[] = [LOBBY];

/** A user's rooms: undefined is the lobby alone, where everyone starts. */
function roomsOf(user: ClusterUser): readonly string[] {
  return user.rooms ?? LOBBY_ONLY;
}
