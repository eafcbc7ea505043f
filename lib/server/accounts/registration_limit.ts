import { type Clock, realClock } from "../../util/clock.ts";

/** Registrations one requester may make per window. @default 3 */
export const REGISTRATIONS_PER_WINDOW = 3;
/** The window of REGISTRATIONS_PER_WINDOW. @default 1 hour */
export const REGISTRATION_WINDOW_MS = 60 * 60_000;

/** Requesters tracked at most: past it, the oldest are forgotten first. */
const MAX_REQUESTERS = 100_000;

/**
 * Counts registrations per requester (an IP address, or a connection: see
 * AccountRequester) over a sliding window, so that one address cannot mint accounts
 * without end. On this server: a cluster's servers count apart.
 */
export class RegistrationLimit {
  readonly #clock: Clock;
  /** Each requester's registrations in the window, oldest first. */
  readonly #times = new Map<string, number[]>();

  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  /** Milliseconds until `requester` may register again; 0 when it may now. */
  waitMs(requester: string): number {
    const times = this.#current(requester, this.#clock.now());
    if (times.length < REGISTRATIONS_PER_WINDOW) return 0;
    return times[0] + REGISTRATION_WINDOW_MS - this.#clock.now();
  }

  /** `requester` registered an account. */
  registered(requester: string): void {
    const now = this.#clock.now();
    const times = this.#current(requester, now);
    // Re-inserted, so that the map's order is the order of last use.
    this.#times.delete(requester);
    if (this.#times.size >= MAX_REQUESTERS) this.#times.delete(this.#times.keys().next().value!);
    this.#times.set(requester, [...times, now]);
  }

  /** The requester's registrations still in the window; forgets the rest. */
  #current(requester: string, now: number): number[] {
    const times = (this.#times.get(requester) ?? []).filter((at) =>
      now - at < REGISTRATION_WINDOW_MS
    );
    if (times.length === 0) this.#times.delete(requester);
    return times;
  }
}
