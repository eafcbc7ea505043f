import type { LogFields, Logger, LogLevel } from "../server/logger.ts";

/**
 * Passes lines on only once `start()` is called, those logged before then included. A
 * server that opens its chat port but not its HTTP port says why and exits: the
 * "stopped" of the half it had opened would only muddle that one line.
 */
export class SilentUntilStarted implements Logger {
  readonly #logger: Logger;
  /** Lines logged before the start: a handful, from the server's making. */
  #held: Parameters<Logger["log"]>[] | undefined = [];

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  start(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const line of held) this.#logger.log(...line);
  }

  log(level: LogLevel, event: string, message: string, fields?: LogFields): void {
    if (this.#held === undefined) this.#logger.log(level, event, message, fields);
    else this.#held.push([level, event, message, fields]);
  }
}
