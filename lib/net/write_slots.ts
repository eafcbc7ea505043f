/** What waits for a slot: told when it has one, which it gives back once its write is done. */
export interface SlotHolder {
  slotGranted(): void;
}

/**
 * A cap on writes in flight across all connections, granted in turn. Deno completes the
 * write ops it has pending in no fair order: with a thousand of them out, some waited
 * over half a second while the kernel had room for all (measured with the native load
 * generator). Holding the rest here, first come first served, keeps every connection's
 * wait in line with the others', and they write more per write when their turn comes.
 * A waiting connection costs a place in an array, not a promise.
 */
export class WriteSlots {
  #free: number;
  #waiting: SlotHolder[] = [];
  /** Index of the longest waiter in #waiting; those before it were granted. */
  #next = 0;

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Grants a slot now if one is free and nobody waits, or later in turn. */
  request(holder: SlotHolder): void {
    if (this.#free > 0 && this.#next === this.#waiting.length) {
      this.#free--;
      holder.slotGranted();
      return;
    }
    this.#waiting.push(holder);
  }

  /** Gives a slot back: to the longest waiter, if any. */
  release(): void {
    if (this.#next === this.#waiting.length) {
      this.#free++;
      return;
    }
    const holder = this.#waiting[this.#next++];
    if (this.#next === this.#waiting.length) {
      this.#waiting = [];
      this.#next = 0;
    }
    holder.slotGranted();
  }
}
