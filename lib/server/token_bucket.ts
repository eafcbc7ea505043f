import type { Clock } from "../util/clock.ts";

/**
 * Allows `burst` events at once, then `perSecond` on average: the bucket holds up
 * to `burst` tokens, refills continuously, and each event takes one. The server
 * limits each session with one; the client paces itself with one of its own.
 */
export class TokenBucket {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #updatedAt: number;

  constructor(perSecond: number, burst: number, clock: Clock) {
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#updatedAt = clock.now();
  }

  /** Takes a token if there is one. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until `take` can succeed; 0 when it can now. */
  msUntilToken(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : ((1 - this.#tokens) / this.#perSecond) * 1000;
  }

  /**
   * Refills as usual, but lets the tokens of the last `ms` go past `burst`, by one burst at
   * most: the events of that time could not be counted as they came (the server held reads
   * back), and a client that kept to the rate should not be refused when they all arrive
   * at once. Only time that passed refills, once, so the average rate stays the limit.
   */
  credit(ms: number): void {
    const now = this.#clock.now();
    const refilled = this.#tokens + ((now - this.#updatedAt) / 1000) * this.#perSecond;
    const cap = this.#burst + Math.min((ms / 1000) * this.#perSecond, this.#burst);
    this.#tokens = Math.max(this.#tokens, Math.min(cap, refilled));
    this.#updatedAt = now;
  }

  /** Drops every token, as when the other side says it has none left. */
  empty(): void {
    this.#refill();
    this.#tokens = 0;
  }

  #refill(): void {
    const now = this.#clock.now();
    // Above the burst only by credit, which refilling does not take away.
    if (this.#tokens < this.#burst) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + ((now - this.#updatedAt) / 1000) * this.#perSecond,
      );
    }
    this.#updatedAt = now;
  }
}
