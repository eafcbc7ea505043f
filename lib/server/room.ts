import { BroadcastLog, SMALL_SEGMENT_BYTES } from "../net/broadcast_log.ts";
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
 * in it across the cluster. Its events go into the log in event-id order.
 */
export class Room {
  /** The room's name, lower case: "#lobby", "#dev". */
  readonly key: string;
  readonly log: BroadcastLog;
  /** This server's members. */
  readonly members = new Map<bigint, HubMember>();
  /** Every user of the cluster in the room, this server's members included. */
  readonly users = new Set<bigint>();
  /** Asks for a pass: the log has something for the members. */
  #wanted: (room: Room) => void;
  /** The id the next numbered event should have; undefined until known (see startAfter). */
  #nextEventId: bigint | undefined;
  /** True while the room's last id is being asked for: numbered events wait for it. */
  #starting = false;
  /** The highest id seen in the room, for the store's floor (HistoryStore.append). */
  highestEventId = 0n;
  /** Numbered events that came before the one they follow, by id. */
  readonly #early = new Map<bigint, Uint8Array>();
  #earlyTimer: ReturnType<typeof setTimeout> | undefined;
  /** What the last pass found (see Hub.flush). */
  passHead = 0;
  oldestReading = 0;
  readingMembers = 0;
  owedBytes = 0;

  constructor(key: string, wanted: (room: Room) => void) {
    this.key = key;
    this.#wanted = wanted;
    // The lobby is where everyone is: its log gets the large segments at once.
    this.log = new BroadcastLog(
      () => wanted(this),
      key === LOBBY ? undefined : SMALL_SEGMENT_BYTES,
    );
  }

  /** Presence and chat events carry the room, but "" for the lobby: what older clients expect. */
  get wireName(): string {
    return this.key === LOBBY ? "" : this.key;
  }

  get isEmpty(): boolean {
    return this.users.size === 0 && this.members.size === 0;
  }

  /**
   * Appends an event that has no id (presence, unnumbered chat); the caller asks for a
   * pass. Nobody here to read it: the log stays empty.
   */
  append(payload: Uint8Array): void {
    if (this.members.size > 0) this.log.append(payload);
  }

  /**
   * Numbered events wait until `lastId` tells where the room's order begins: the id
   * after it. Without it, the first event seen would set the order, and one numbered
   * before it but slower to come would be taken for late.
   */
  startAfter(lastId: Promise<bigint>): void {
    this.#starting = true;
    this.#earlyTimer ??= setTimeout(() => this.#giveUpWaiting(), REORDER_WAIT_MS);
    lastId.then(
      (id) => {
        if (!this.#starting) return;
        this.#starting = false;
        this.#nextEventId = id + 1n;
        // Those numbered before: not late for the members, who followed the room first.
        for (const early of [...this.#early.keys()].sort(compareIds)) {
          if (early > id) break;
          this.append(this.#early.get(early)!);
          this.#early.delete(early);
        }
        this.#appendFollowing();
        this.#wanted(this);
      },
      () => this.#giveUpWaiting(),
    );
  }

  /**
   * Appends a numbered chat event in id order: one whose predecessor has not come yet
   * waits for it, REORDER_WAIT_MS at most. A late one (its successors went on without it)
   * goes in at once: out of order is better than lost.
   */
  appendNumbered(eventId: bigint, payload: Uint8Array): void {
    const next = this.#nextEventId;
    if (eventId === 0n) return this.append(payload);
    if (eventId > this.highestEventId) this.highestEventId = eventId;
    if (this.#starting || (next !== undefined && eventId > next)) {
      this.#early.set(eventId, payload);
      this.#earlyTimer ??= setTimeout(() => this.#giveUpWaiting(), REORDER_WAIT_MS);
      return;
    }
    this.append(payload);
    if (next === undefined || eventId === next) {
      this.#nextEventId = eventId + 1n;
      this.#appendFollowing();
    }
  }

  /** Stops the reorder timer: the room is being forgotten, or the server stops. */
  [Symbol.dispose](): void {
    clearTimeout(this.#earlyTimer);
    this.#earlyTimer = undefined;
    this.#early.clear();
  }

  #appendFollowing(): void {
    let next = this.#nextEventId!;
    for (
      let payload = this.#early.get(next);
      payload !== undefined;
      payload = this.#early.get(next)
    ) {
      this.#early.delete(next);
      this.append(payload);
      next++;
    }
    this.#nextEventId = next;
    if (this.#early.size === 0) {
      clearTimeout(this.#earlyTimer);
      this.#earlyTimer = undefined;
    }
  }

  /** The missing events are not coming (lost in an outage, say): go on from the oldest that came. */
  #giveUpWaiting(): void {
    this.#earlyTimer = undefined;
    this.#starting = false;
    if (this.#early.size === 0) return;
    let oldest: bigint | undefined;
    for (const id of this.#early.keys()) if (oldest === undefined || id < oldest) oldest = id;
    this.#nextEventId = oldest;
    this.#appendFollowing();
    this.#wanted(this);
    if (this.#early.size > 0) {
      this.#earlyTimer = setTimeout(() => this.#giveUpWaiting(), REORDER_WAIT_MS);
    }
  }
}

function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
