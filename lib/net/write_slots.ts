/** What waits for a slot: told when it has one, which it gives back once its write is done. */
export interface SlotHolder {
  slotGranted(): void;
}

/**
 * A write that has held its slot over this many event-loop turns gives it up, and goes on
 * without one: a client that stopped reading must not hold a slot, or a few such clients
 * would stop every write in the server. A write to a client that reads completes within a
 * turn or two. Turns, not milliseconds: a long pass starts many writes in one turn, and
 * none of them could have completed before it ends.
 */
const LEASE_TURNS = 2;

/**
 * A cap on writes in flight across all connections, granted in turn. Deno completes the
 * write ops it has pending in no fair order: with a thousand of them out, some waited
 * over half a second while the kernel had room for all (measured with the native load
 * generator). Holding the rest here, first come first served, keeps every connection's
 * wait in line with the others', and they write more per write when their turn comes.
 * A waiting connection costs a place in an array, not a promise.
 */
export class WriteSlots {
  readonly #slots: number;
  /** The holders writing with a slot, and the turn each was granted it in. */
  readonly #holders: SlotHolder[] = [];
  readonly #grantedIn: number[] = [];
  /** Event-loop turns counted while anyone waits: one per timer callback. */
  #turn = 0;
  /**
   * The waiters, a ring: oldest at #first, #waitingCount of them. Reused, and grown only
   * when full: a pass over 10,000 sessions queues 10,000, and an array made anew for each
   * pass would be garbage the size of one, every pass.
   */
  #waiting: (SlotHolder | undefined)[] = new Array(1024);
  #first = 0;
  #waitingCount = 0;
  #turnTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(slots: number) {
    this.#slots = slots;
  }

  /** Grants a slot now if one is free and nobody waits, or later in turn. */
  request(holder: SlotHolder): void {
    if (this.#waitingCount === 0 && this.#holders.length < this.#slots) {
      this.#grant(holder);
      return;
    }
    if (this.#waitingCount === this.#waiting.length) this.#growRing();
    this.#waiting[(this.#first + this.#waitingCount++) % this.#waiting.length] = holder;
    this.#reclaimExpired();
  }

  /** Gives `holder`'s slot back, to the longest waiter if any. Nothing if its lease ran out. */
  release(holder: SlotHolder): void {
    const index = this.#holders.indexOf(holder);
    if (index === -1) return;
    this.#holders.splice(index, 1);
    this.#grantedIn.splice(index, 1);
    this.#grantWaiting();
  }

  #grant(holder: SlotHolder): void {
    this.#holders.push(holder);
    this.#grantedIn.push(this.#turn);
    holder.slotGranted();
  }

  #grantWaiting(): void {
    while (this.#waitingCount > 0 && this.#holders.length < this.#slots) {
      const holder = this.#waiting[this.#first]!;
      this.#waiting[this.#first] = undefined;
      this.#first = (this.#first + 1) % this.#waiting.length;
      this.#waitingCount--;
      this.#grant(holder);
    }
  }

  #growRing(): void {
    const ring: (SlotHolder | undefined)[] = new Array(this.#waiting.length * 2);
    for (let i = 0; i < this.#waitingCount; i++) {
      ring[i] = this.#waiting[(this.#first + i) % this.#waiting.length];
    }
    this.#waiting = ring;
    this.#first = 0;
  }

  /** Takes back the slots of writes past their lease; while anyone waits, counts turns. */
  #reclaimExpired(): void {
    while (this.#grantedIn.length > 0 && this.#turn - this.#grantedIn[0] >= LEASE_TURNS) {
      this.#holders.shift();
      this.#grantedIn.shift();
    }
    this.#grantWaiting();
    if (this.#waitingCount > 0 && this.#turnTimer === undefined) {
      this.#turnTimer = setTimeout(() => {
        this.#turnTimer = undefined;
        this.#turn++;
        this.#reclaimExpired();
      }, 0);
    }
  }
}
