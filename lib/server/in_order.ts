/** What an InOrder runs its items with. */
export interface InOrderHandler<T> {
  /** Handles one item; a promise holds back the items behind it until it settles. */
  handle(item: T): void | Promise<void>;
  /** `handle` threw or its promise rejected; the items behind it still run. */
  handleFailed(error: unknown): void;
  /**
   * An item of its own for one that must wait: what was pushed may be a view of memory
   * its caller reuses once push() returns (a connection's read buffer).
   */
  keep(item: T): T;
}

/**
 * Runs a session's frame handlers one after another. Nearly all finish at once; one
 * that waits (a nickname claim sent to Redis) holds back the frames behind it, so a
 * client's requests take effect in the order it sent them.
 */
export class InOrder<T> {
  readonly #handler: InOrderHandler<T>;
  readonly #maxWaiting: number;
  readonly #waiting: T[] = [];
  #busy = false;
  /** Made only when idle() is called while busy: rare, and every session has an InOrder. */
  #idle: PromiseWithResolvers<void> | undefined;

  /** `maxWaiting` bounds the memory a client can fill while a handler waits. */
  constructor(handler: InOrderHandler<T>, maxWaiting: number) {
    this.#handler = handler;
    this.#maxWaiting = maxWaiting;
  }

  /** Runs `item` now, or after the ones waiting. False, dropping it, when too many wait. */
  push(item: T): boolean {
    if (!this.#busy) {
      this.#run(item);
      return true;
    }
    if (this.#waiting.length >= this.#maxWaiting) return false;
    this.#waiting.push(this.#handler.keep(item));
    return true;
  }

  /** Resolves once every item pushed so far has been handled. */
  idle(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  #run(item: T): void {
    let result: void | Promise<void>;
    try {
      result = this.#handler.handle(item);
    } catch (error) {
      this.#handler.handleFailed(error);
      return;
    }
    if (!(result instanceof Promise)) return;
    this.#busy = true;
    // The frames behind a failed one still run.
    result.catch((error) => this.#handler.handleFailed(error)).finally(() => {
      this.#busy = false;
      while (!this.#busy && this.#waiting.length > 0) this.#run(this.#waiting.shift()!);
      if (this.#busy) return;
      this.#idle?.resolve();
      this.#idle = undefined;
    });
  }
}
