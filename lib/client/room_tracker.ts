import { Action, type ChatEvent, type RoomJoined } from "../../gen/chat/v1/chat_pb.ts";
import { LOBBY, roomKey } from "../protocol/room_name.ts";

/** Something to show, in the order the tracker gives it out. */
export type TrackedOutput =
  /** room: the room's key, or undefined for an echo or a private message, which have none. */
  | { kind: "chat"; room: string | undefined; event: ChatEvent }
  /** Messages of `room` that were sent while the client was away and are no longer kept. */
  | { kind: "gap"; room: string; missed: bigint };

/** A JoinRequest to send. */
export interface JoinToSend {
  room: string;
  resume: boolean;
  lastEventId: bigint;
}

/** A HistoryRequest to send. */
export interface HistoryToSend {
  room: string;
  beforeEventId: bigint;
  count: number;
}

/** What to send on a new connection, right after Welcome. */
export interface ConnectRequests {
  joins: JoinToSend[];
  /** The client had left #lobby, which every new session is in: leave it again. */
  partLobby: boolean;
}

export interface RoomTrackerOptions {
  /**
   * Join the lobby at the first connect, for its recent messages. Without it the lobby's
   * messages start from the moment of connecting, as from a server without rooms. @default true
   */
  lobbyHistory?: boolean;
  /**
   * Events held for a join that does not end: past this many, they are shown as they are
   * and the join is no longer waited for. @default 10000
   */
  maxHeld?: number;
}

/** HistoryRequest.count 0 means this many. */
const DEFAULT_HISTORY_COUNT = 50;

interface RoomState {
  /** The last numbered event shown, or accounted for by a gap; 0n for none. */
  lastShown: bigint;
  /** The oldest numbered event shown; 0n for none. /history asks for older ones. */
  oldest: bigint;
  /** Joins sent and not answered: while any is, the room's numbered events are held. */
  joins: number;
  /** The largest RoomJoined.missed among the answers to those joins. */
  missed: bigint;
  /** Events held until the joins are answered: history, and live ones that came first. */
  held: ChatEvent[];
  /** In the room on this connection: a join of it was answered (the lobby: from the start). */
  present: boolean;
  /** A join of it was answered once: after a reconnect, the client resumes it. */
  everJoined: boolean;
  /** A part was asked for; the room is gone at RoomParted. */
  parting: boolean;
  /** History requests in flight, oldest first: `count` events before `before`. */
  paging: { before: bigint; count: number }[];
  /** The oldest event the history request in flight showed so far; 0n for none. */
  pageLow: bigint;
  /** How many events the history request in flight showed so far. */
  pageShown: number;
}

/**
 * The client's rooms, on its side of the wire: which rooms it is in, the one typed lines go
 * to, and, per room, the last message shown, so that what comes twice is shown once and,
 * after a reconnect, the client asks for exactly what it missed.
 *
 * Live messages of a room can come before the history its join asks for (the lobby is
 * followed from the moment of connecting, its join is sent after Welcome). While a join of
 * a room is unanswered, its numbered messages are held; at RoomJoined they are shown in
 * event id order, each id once and only ids past the last one shown, after a gap notice
 * when the server says some are no longer kept. Unnumbered messages (event id 0: echo,
 * private, history off) are never held: there is nothing to order them by.
 *
 * Pure logic: it sends nothing and has no timers, so the terminal client and the browser
 * page can both use it.
 */
export class RoomTracker {
  readonly #rooms = new Map<string, RoomState>();
  readonly #maxHeld: number;
  readonly #lobbyHistory: boolean;
  #current: string | undefined = LOBBY;
  #everConnected = false;

  constructor(options: RoomTrackerOptions = {}) {
    this.#maxHeld = options.maxHeld ?? 10_000;
    this.#lobbyHistory = options.lobbyHistory ?? true;
    this.#rooms.set(LOBBY, newRoom(true));
  }

  /** The room typed lines go to; undefined when the client is in no room. */
  get current(): string | undefined {
    return this.#current;
  }

  /** The rooms the client is in or joining, in the order it joined them. */
  get rooms(): string[] {
    return [...this.#rooms].filter(([, state]) => !state.parting).map(([room]) => room);
  }

  /** True when the client is in `room` or joining it (and not leaving it). */
  has(room: string): boolean {
    const state = this.#rooms.get(roomKey(room));
    return state !== undefined && !state.parting;
  }

  /** True when a join of `room` is waiting for its RoomJoined. */
  isJoining(room: string): boolean {
    return (this.#rooms.get(roomKey(room))?.joins ?? 0) > 0;
  }

  /** The last event id shown in `room` (or accounted for by a gap); 0n for none. */
  lastEventId(room: string): bigint {
    return this.#rooms.get(roomKey(room))?.lastShown ?? 0n;
  }

  /**
   * A connection was welcomed: what to send. The first time, a join of the lobby, for its
   * history; after a reconnect, a resume of every room, from the last message shown there.
   */
  connected(): ConnectRequests {
    const joins: JoinToSend[] = [];
    if (!this.#everConnected) {
      this.#everConnected = true;
      const lobby = this.#rooms.get(LOBBY);
      if (lobby !== undefined && this.#lobbyHistory) {
        lobby.joins++;
        joins.push({ room: LOBBY, resume: false, lastEventId: 0n });
      }
      return { joins, partLobby: lobby === undefined };
    }
    for (const [room, state] of [...this.#rooms]) {
      if (state.parting) {
        this.#remove(room);
        continue;
      }
      state.joins = 1;
      state.present = room === LOBBY;
      joins.push(
        state.everJoined
          ? { room, resume: true, lastEventId: state.lastShown }
          : { room, resume: false, lastEventId: 0n },
      );
    }
    return { joins, partLobby: !this.#rooms.has(LOBBY) };
  }

  /**
   * The connection dropped. Held messages are dropped too: they were never shown, so the
   * next resume asks for them again.
   */
  disconnected(): void {
    for (const state of this.#rooms.values()) {
      state.joins = 0;
      state.missed = 0n;
      state.held = [];
      state.present = false;
      state.paging = [];
      state.pageLow = 0n;
      state.pageShown = 0;
    }
  }

  /** A join of `room` is being sent; it becomes the current room. Returns what to send. */
  join(room: string): JoinToSend {
    const key = roomKey(room);
    let state = this.#rooms.get(key);
    if (state === undefined) {
      state = newRoom(false);
      this.#rooms.set(key, state);
    }
    state.parting = false;
    state.joins++;
    this.#current = key;
    return { room: key, resume: false, lastEventId: 0n };
  }

  /** Makes `room`, which the client is in, the current room. False when it is not in it. */
  select(room: string): boolean {
    if (!this.has(room)) return false;
    this.#current = roomKey(room);
    return true;
  }

  /** A join of `room` was refused: shows what was held for it, and forgets the room unless in it. */
  joinFailed(room: string): TrackedOutput[] {
    const key = roomKey(room);
    const state = this.#rooms.get(key);
    if (state === undefined || state.joins === 0) return [];
    state.joins--;
    if (state.joins > 0) return [];
    const shown = this.#release(key, state, 0n);
    if (!state.present) this.#remove(key);
    return shown;
  }

  /** A part of `room` is being sent: the current room moves to the one joined last. */
  part(room: string): void {
    const key = roomKey(room);
    const state = this.#rooms.get(key);
    if (state === undefined) return;
    state.parting = true;
    if (this.#current === key) this.#current = this.rooms.at(-1);
  }

  /** A part was refused (an older server, say): the client is still in the room. */
  partFailed(room: string): void {
    const state = this.#rooms.get(roomKey(room));
    if (state === undefined) return;
    state.parting = false;
    this.#current ??= roomKey(room);
  }

  /** RoomParted: the room is gone. */
  parted(room: string): void {
    this.#remove(roomKey(room));
  }

  /** A ChatEvent came: what to show now (possibly nothing, possibly later). */
  chat(event: ChatEvent): TrackedOutput[] {
    if (event.action !== Action.BROADCAST) return [{ kind: "chat", room: undefined, event }];
    const room = roomKey(event.room);
    const state = this.#rooms.get(room);
    // A room the client left: what was still on its way is not shown.
    if (state === undefined) return [];
    const id = event.eventId;
    if (id === 0n) return [{ kind: "chat", room, event }];
    if (state.joins > 0) {
      state.held.push(event);
      if (state.held.length <= this.#maxHeld) return [];
      // A join that does not end: stop waiting for it.
      state.joins = 0;
      return this.#release(room, state, 0n);
    }
    if (event.history) {
      // An answer to /history: what it asked for, and not already on the screen (a request
      // sent before the messages it crossed came has nothing shown to count back from).
      const page = state.paging[0];
      const asked = page === undefined || page.before === 0n || id < page.before;
      const shownAlready = state.oldest !== 0n && id >= state.oldest && id <= state.lastShown;
      if (!asked || shownAlready) return [];
      // The oldest shown moves at HistoryEnd: the page's messages come oldest first.
      if (state.pageLow === 0n || id < state.pageLow) state.pageLow = id;
      if (id > state.lastShown) state.lastShown = id;
      state.pageShown++;
      return [{ kind: "chat", room, event }];
    }
    if (id <= state.lastShown) return [];
    this.#shown(state, id);
    return [{ kind: "chat", room, event }];
  }

  /** RoomJoined: a gap notice if messages were lost, then what was held, in order, once each. */
  joined(joined: RoomJoined): TrackedOutput[] {
    const room = roomKey(joined.room);
    const state = this.#rooms.get(room);
    if (state === undefined) return [];
    if (joined.missed > state.missed) state.missed = joined.missed;
    // The room's numbering began again (its history was dropped or lost): ids seen before
    // say nothing of the new ones, all of which the server has sent.
    if (joined.lastEventId !== 0n && joined.lastEventId < state.lastShown) {
      state.lastShown = 0n;
      state.oldest = 0n;
    }
    state.present = true;
    state.everJoined = true;
    if (state.joins === 0) return [];
    state.joins--;
    if (state.joins > 0) return [];
    const missed = state.missed;
    state.missed = 0n;
    return this.#release(room, state, missed);
  }

  /**
   * A /history of `room` (by default the current room) is being sent: what to ask for, or
   * undefined in no room. Messages already shown that its answer brings again (it was sent
   * before they came) are not shown twice.
   */
  history(count: number, room = this.#current): HistoryToSend | undefined {
    if (room === undefined) return undefined;
    const wanted = count > 0 ? count : DEFAULT_HISTORY_COUNT;
    const state = this.#rooms.get(roomKey(room));
    // Not in the room: the server says so.
    if (state === undefined) return { room: roomKey(room), beforeEventId: 0n, count: wanted };
    // Before anything already shown, and before what earlier requests still on their way
    // will show: ids go up by one, so a request for N before B brings B-N to B-1.
    let before = state.oldest;
    for (const page of state.paging) {
      if (page.before === 0n) continue;
      const floor = page.before > BigInt(page.count) ? page.before - BigInt(page.count) : 1n;
      if (before === 0n || floor < before) before = floor;
    }
    state.paging.push({ before, count: wanted });
    return { room: roomKey(room), beforeEventId: before, count: wanted };
  }

  /**
   * HistoryEnd (or a refusal): the oldest request for the room is answered. Returns how many
   * of its messages were shown; undefined for a room the client is not in.
   */
  historyEnd(room: string): number | undefined {
    const state = this.#rooms.get(roomKey(room));
    if (state === undefined) return undefined;
    state.paging.shift();
    if (state.pageLow !== 0n && (state.oldest === 0n || state.pageLow < state.oldest)) {
      state.oldest = state.pageLow;
    }
    const shown = state.pageShown;
    state.pageLow = 0n;
    state.pageShown = 0;
    return shown;
  }

  /**
   * Shows what was held for a room's join: held events by event id, skipping those already
   * shown, after a gap notice when `missed` messages after the last one shown are lost.
   */
  #release(room: string, state: RoomState, missed: bigint): TrackedOutput[] {
    const held = state.held.sort((
      a,
      b,
    ) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
    state.held = [];
    const out: TrackedOutput[] = [];
    if (missed > 0n) {
      // What is really lost: up to the next message there is to show (live messages held
      // may cover some of what the server no longer keeps), or all it names.
      const next = held.find((event) => event.eventId > state.lastShown);
      const lost = next === undefined ? missed : next.eventId - state.lastShown - 1n;
      if (lost > 0n) {
        out.push({ kind: "gap", room, missed: lost });
        state.lastShown += lost;
      }
    }
    for (const event of held) {
      if (event.eventId <= state.lastShown) continue;
      this.#shown(state, event.eventId);
      out.push({ kind: "chat", room, event });
    }
    return out;
  }

  #shown(state: RoomState, id: bigint): void {
    state.lastShown = id;
    if (state.oldest === 0n || id < state.oldest) state.oldest = id;
  }

  #remove(room: string): void {
    this.#rooms.delete(room);
    if (this.#current === room) this.#current = this.rooms.at(-1);
  }
}

function newRoom(present: boolean): RoomState {
  return {
    lastShown: 0n,
    oldest: 0n,
    joins: 0,
    missed: 0n,
    held: [],
    present,
    everJoined: false,
    parting: false,
    paging: [],
    pageLow: 0n,
    pageShown: 0,
  };
}
