import { type Clock, realClock } from "../util/clock.ts";

/**
 * What each stop signal means: the first asks for a graceful stop; a later one forces
 * the exit (the user will not wait), unless it comes so soon that it is the first again.
 */
export class StopRequests {
  /**
   * How long after the first stop signal another still counts as the same request:
   * `deno task` may pass one Ctrl+C on as a second SIGINT, a few milliseconds later.
   */
  static readonly REPEAT_WINDOW_MS = 1000;
  readonly #clock: Clock;
  #firstAt: number | undefined;

  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  /** True once a stop signal has come. */
  get stopping(): boolean {
    return this.#firstAt !== undefined;
  }

  /** Counts a signal: "stop" for the first, "force" for one a second or more after it. */
  receive(): "stop" | "force" | "repeat" {
    const now = this.#clock.now();
    if (this.#firstAt === undefined) {
      this.#firstAt = now;
      return "stop";
    }
    return now - this.#firstAt >= StopRequests.REPEAT_WINDOW_MS ? "force" : "repeat";
  }
}
