/** Thrown by Semaphore.run when no permit came free in time. */
export class SemaphoreTimeoutError extends Error {
  override name = "SemaphoreTimeoutError";
}

/** At most `permits` holders at once; the others wait, first come, first served. */
export class Semaphore {
  #free: number;
  readonly #waiting = new Set<() => void>();

  constructor(permits: number) {
    this.#free = permits;
  }

  /**
   * Runs `task` once a permit is free, and frees it when the task settles. Throws
   * SemaphoreTimeoutError, without running it, when none comes free within `waitMs`.
   */
  async run<T>(task: () => Promise<T>, waitMs = Infinity): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await this.#wait(waitMs);
    try {
      return await task();
    } finally {
      // Handed straight to the next in line (a Set keeps the order they came in), or back.
      const next = this.#waiting.values().next();
      if (next.done) this.#free++;
      else {
        this.#waiting.delete(next.value);
        next.value();
      }
    }
  }

  #wait(waitMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Called later, when a permit is handed over: `expiry` is set by then.
      const granted = () => {
        clearTimeout(expiry);
        resolve();
      };
      this.#waiting.add(granted);
      const expiry = waitMs === Infinity ? undefined : setTimeout(() => {
        this.#waiting.delete(granted);
        reject(new SemaphoreTimeoutError(`No permit came free within ${waitMs} ms`));
      }, waitMs);
    });
  }
}
