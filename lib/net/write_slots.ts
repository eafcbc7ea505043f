/**
 * A cap on writes in flight across all connections, taken in turn. Deno completes the
 * write ops it has pending in no fair order: with a thousand of them out, some waited
 * over half a second while the kernel had room for all (measured with the native load
 * generator). Holding the rest here, first come first served, keeps every connection's
 * wait in line with the others', and they write more per write when their turn comes.
 */
export class WriteSlots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  #head = 0;

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Takes a slot: undefined when one was free, or a promise that resolves with one. */
  take(): Promise<void> | undefined {
    if (this.#free > 0 && this.#head === this.#waiting.length) {
      this.#free--;
      return undefined;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Gives a slot back: to the longest waiter, if any. */
  give(): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head];
      this.#waiting[this.#head++] = undefined!;
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
      next();
      return;
    }
    this.#free++;
  }
}
