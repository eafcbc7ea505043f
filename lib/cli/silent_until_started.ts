import type { LogFields, Logger, LogLevel } from "../server/logger.ts";

/**
 * Passes lines on only once `start()` is called. A server that opens its chat port but
 * not its HTTP port says why and exits: the "stopped" of the half it had opened would
 * only muddle that one line.
 */
export class SilentUntilStarted implements Logger {
  readonly #logger: Logger;
  #started = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  start(): void {
    this.#started = true;
  }

  log(level: LogLevel, event: string, message: string, fields?: LogFields): void {
    if (this.#started) this.#logger.log(level, event, message, fields);
  }
}
