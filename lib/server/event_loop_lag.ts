/** How often the lag is sampled. */
const INTERVAL_MS = 500;

/**
 * Measures how late a timer fires: when the event loop is busy with other work
 * (fan-out, decoding), every client waits that long too.
 */
export class EventLoopLag {
  #lagMs = 0;
  #expected = performance.now() + INTERVAL_MS;
  readonly #timer = setInterval(() => {
    const now = performance.now();
    this.#lagMs = Math.max(0, now - this.#expected);
    this.#expected = now + INTERVAL_MS;
  }, INTERVAL_MS);

  constructor() {
    // Never keeps the process alive on its own.
    this.#timer.unref();
  }

  /** The lateness of the last sample, in ms. */
  get lagMs(): number {
    return this.#lagMs;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
