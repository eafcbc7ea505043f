/**
 * When a publisher may send: while publishing lasts, with fewer than `window` of its
 * messages unacknowledged and, given a rate, no more than `rate` per second since the
 * start. Acknowledgments call `pump`; with a rate, a timer calls it too.
 */
export class Pacer {
  publishing = false;
  #start = 0;
  #end = 0;

  constructor(readonly window: number, readonly rate: number) {}

  /** Publishes for `seconds`, calling `pump` at the start and every millisecond with a rate. */
  async run(seconds: number, pump: () => void): Promise<void> {
    this.publishing = true;
    this.#start = performance.now();
    pump();
    const ticker = this.rate > 0 ? setInterval(pump, 1) : undefined;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    this.publishing = false;
    this.#end = performance.now();
    clearInterval(ticker);
  }

  /** How long publishing lasted, once `run` has resolved. */
  get publishSeconds(): number {
    return (this.#end - this.#start) / 1000;
  }

  /** May a publisher that has sent `sent` and had `acked` acknowledged send one more? */
  may(sent: number, acked: number): boolean {
    if (!this.publishing || sent - acked >= this.window) return false;
    return this.rate === 0 || sent < this.rate * (performance.now() - this.#start) / 1000 + 1;
  }
}

/** Resolves true once `done()` holds, or false at `deadline` (a performance.now() time). */
export async function waitUntil(done: () => boolean, deadline: number): Promise<boolean> {
  while (!done()) {
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}
