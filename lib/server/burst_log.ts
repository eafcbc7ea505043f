import type { LogFields, Logger } from "./logger.ts";

/** At most one line per this many ms for one kind of event. */
const INTERVAL_MS = 1000;

/**
 * Warnings about peers that a burst could make by the thousand (a port scanner, a
 * misconfigured fleet of clients): one line per second at most, which says how many
 * like it were left out since the last.
 */
export class BurstLog {
  readonly #logger: Logger;
  readonly #event: string;
  #lastAt = -Infinity;
  #leftOut = 0;

  constructor(logger: Logger, event: string) {
    this.#logger = logger;
    this.#event = event;
  }

  warn(message: string, fields: LogFields = {}): void {
    const now = performance.now();
    if (now - this.#lastAt < INTERVAL_MS) {
      this.#leftOut++;
      return;
    }
    this.#lastAt = now;
    const more = this.#leftOut;
    this.#leftOut = 0;
    this.#logger.log(
      "warn",
      this.#event,
      more === 0 ? message : `${message} (and ${more} more like it since the last line)`,
      more === 0 ? fields : { ...fields, left_out: more },
    );
  }
}
