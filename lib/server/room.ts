import { type AppendOrder, BroadcastLog, SMALL_SEGMENT_BYTES } from "../net/broadcast_log.ts";
import { LOBBY } from "../protocol/room_name.ts";
import type { HubMember } from "./hub.ts";

/**
 * How long a numbered event waits for the one before it. In a cluster, ids are given out
 * by Redis and the events come back by two roads (this server's own, the others' through
 * the backplane), so an event may overtake the one before it by a round trip.
 */
const REORDER_WAIT_MS = 250;

/**
 * One fan-out group: a room's log, which its members on this server follow, and who is
 * in it across the cluster. Its numbered events go into the log in event-id order; the
 * others (presence) go in as they come. A sender's own events keep their order because its
 * frames wait for its numbered message to go in (see appendNumbered).
 */
export class Room {
  /** The room's name, lower case: "#lobby", "#dev". */
  readonly key: string;
  readonly log: BroadcastLog;
  /** This server's members. */
  readonly members = new Map<bigint, HubMember>();
  /** Every user of the cluster in the room, this server's members included. */
  readonly users = new Set<bigint>();
  /** The highest id seen in the room, for the store's floor (HistoryStore.append). */
  highestEventId = 0n;
  /** What the last pass found (see Hub.flush). */
  passHead = 0;
  oldestReading = 0;
  readingMembers = 0;
  owedBytes = 0;
  /** Asks for a pass: the log has something for the members. */
  readonly #wanted: (room: Room) => void;
  /** The id the next numbered event should have; undefined until known (see startAfter). */
  #nextEventId: bigint | undefined;
  /** True while the room's last id is being asked for: numbered events wait for it. */
  #starting = false;
  /** Numbered events that came before the one they follow, by id. */
  readonly #early = new Map<bigint, Uint8Array>();
  /** Told when their event, which waits in #early, goes in (see appendNumbered). */
  readonly #written = new Map<bigint, () => void>();
  #waitTimer: ReturnType<typeof setTimeout> | undefined;
  /** Forgotten by its hub: what was still on its way to it (a last id, a wait) does nothing. */
  #disposed = false;

  /** `order`: the server's, shared by every room, for members of several (see BroadcastLog). */
  constructor(key: string, wanted: (room: Room) => void, order?: AppendOrder) {
    this.key = key;
    this.#wanted = wanted;
    // The lobby is where everyone is: its log gets the large segments at once.
    this.log = new BroadcastLog(
      () => wanted(this),
      key === LOBBY ? undefined : SMALL_SEGMENT_BYTES,
      order,
    );
  }

  /** Presence and chat events carry the room, but "" for the lobby: what older clients expect. */
  get wireName(): string {
    return this.key === LOBBY ? "" : this.key;
  }

  get isEmpty(): boolean {
    return this.users.size === 0 && this.members.size === 0;
  }

  /** Appends an event that has no id (presence, unnumbered chat); the caller asks for a pass. */
  append(payload: Uint8Array): void {
    this.#write(payload);
  }

  /**
   * Appends a numbered chat event in id order: one whose predecessor has not come yet
   * waits for it, REORDER_WAIT_MS at most, and then the promise returned resolves once it
   * is in (its sender's later replies must not pass it). A late one (its successors went
   * on without it) goes in at once: out of order is better than lost.
   */
  appendNumbered(eventId: bigint, payload: Uint8Array): Promise<void> | undefined {
    if (eventId === 0n) {
      this.append(payload);
      return undefined;
    }
    if (eventId > this.highestEventId) this.highestEventId = eventId;
    const next = this.#nextEventId;
    if (this.#starting || (next !== undefined && eventId > next)) {
      this.#early.set(eventId, payload);
      this.#waitTimer ??= setTimeout(() => this.#giveUpWaiting(), REORDER_WAIT_MS);
      const written = Promise.withResolvers<void>();
      this.#written.set(eventId, written.resolve);
      return written.promise;
    }
    this.#write(payload);
    if (next === undefined || eventId === next) {
      this.#nextEventId = eventId + 1n;
      this.#appendFollowing();
    }
  }

  /**
   * Numbered events wait until `lastId` tells where the room's order begins: the id
   * after it. Without it, the first event seen would set the order, and one numbered
   * before it but slower to come would be taken for late.
   */
  startAfter(lastId: Promise<bigint>): void {
    this.#starting = true;
    this.#waitTimer ??= setTimeout(() => this.#giveUpWaiting(), REORDER_WAIT_MS);
    lastId.then(
      (id) => {
        if (!this.#starting || this.#disposed) return;
        this.#starting = false;
        this.#nextEventId = id + 1n;
        // Those numbered before it: not late for the members, who followed the room first.
        for (const early of [...this.#early.keys()].sort(compareIds)) {
          if (early > id) break;
          this.#writeEarly(early);
        }
        this.#appendFollowing();
        this.#wanted(this);
      },
      () => this.#giveUpWaiting(),
    );
  }

  /** Stops the reorder timer: the room is being forgotten, or the server stops. */
  [Symbol.dispose](): void {
    this.#disposed = true;
    this.#starting = false;
    clearTimeout(this.#waitTimer);
    this.#waitTimer = undefined;
    this.#early.clear();
    for (const written of this.#written.values()) written();
    this.#written.clear();
  }

  /** Nobody here to read it: the log stays empty. */
  #write(payload: Uint8Array): void {
    if (this.members.size > 0) this.log.append(payload);
  }

  #writeEarly(eventId: bigint): void {
    this.#write(this.#early.get(eventId)!);
    this.#early.delete(eventId);
    this.#written.get(eventId)?.();
    this.#written.delete(eventId);
  }

  /** Writes the waiting events that follow on from #nextEventId, and ends the wait when none is left. */
  #appendFollowing(): void {
    let next = this.#nextEventId!;
    while (this.#early.has(next)) this.#writeEarly(next++);
    this.#nextEventId = next;
    if (this.#early.size > 0 || this.#starting) return;
    clearTimeout(this.#waitTimer);
    this.#waitTimer = undefined;
  }

  /** The missing events are not coming (lost in an outage, say): go on from the oldest that came. */
  #giveUpWaiting(): void {
    this.#waitTimer = undefined;
    if (this.#disposed) return;
    this.#starting = false;
    let oldest: bigint | undefined;
    for (const id of this.#early.keys()) if (oldest === undefined || id < oldest) oldest = id;
    if (oldest !== undefined) this.#nextEventId = oldest;
    if (this.#nextEventId !== undefined) this.#appendFollowing();
    this.#wanted(this);
    if (this.#early.size > 0) {
      this.#waitTimer = setTimeout(() => this.#giveUpWaiting(), REORDER_WAIT_MS);
    }
  }
}

function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
