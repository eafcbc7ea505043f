/** Where time comes from, so that rate limits and timeouts can be tested with a fake one. */
export interface Clock {
  /** Milliseconds, only ever increasing. */
  now(): number;
}

export const realClock: Clock = { now: () => performance.now() };
