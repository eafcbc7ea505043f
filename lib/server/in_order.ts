/**
 * Runs a session's frame handlers one after another. Nearly all finish at once; one
 * that waits (a nickname claim sent to Redis) holds back the frames behind it, so a
 * client's requests take effect in the order it sent them.
 */
export class InOrder<T> {
  readonly #handle: (item: T) => void | Promise<void>;
  readonly #maxWaiting: number;
  readonly #onError: (error: unknown) => void;
  readonly #waiting: T[] = [];
  #busy = false;
  #idleWaiters: (() => void)[] = [];

  /** `maxWaiting` bounds the memory a client can fill while a handler waits. */
  constructor(
    handle: (item: T) => void | Promise<void>,
    maxWaiting: number,
    onError: (error: unknown) => void,
  ) {
    this.#handle = handle;
    this.#maxWaiting = maxWaiting;
    this.#onError = onError;
  }

  /** Runs `item` now, or after the ones waiting. False, dropping it, when too many wait. */
  push(item: T): boolean {
    if (!this.#busy) {
      this.#run(item);
      return true;
    }
    if (this.#waiting.length >= this.#maxWaiting) return false;
    this.#waiting.push(item);
    return true;
  }

  /** Resolves once every item pushed so far has been handled. */
  idle(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #run(item: T): void {
    let result: void | Promise<void>;
    try {
      result = this.#handle(item);
    } catch (error) {
      this.#onError(error);
      return;
    }
    if (!(result instanceof Promise)) return;
    this.#busy = true;
    // The frames behind a failed one still run.
    result.catch(this.#onError).finally(() => {
      this.#busy = false;
      while (!this.#busy && this.#waiting.length > 0) this.#run(this.#waiting.shift()!);
      if (this.#busy) return;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    });
  }
}
