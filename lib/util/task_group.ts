/**
 * Tasks to wait for together; a failure goes to `onFailure`, never thrown. It counts
 * its tasks rather than keeping them: a server runs one per connection, mostly idle
 * for hours, and a set entry and closures for each would add up.
 */
export class TaskGroup {
  readonly #onFailure: (error: unknown) => void;
  #running = 0;
  #idle: PromiseWithResolvers<void> | undefined;
  // Arrow fields: one pair for the whole group, handed to every task's then().
  readonly #taskDone = () => {
    if (--this.#running > 0) return;
    this.#idle?.resolve();
    this.#idle = undefined;
  };
  readonly #taskFailed = (error: unknown) => {
    this.#onFailure(error);
    this.#taskDone();
  };

  constructor(onFailure: (error: unknown) => void) {
    this.#onFailure = onFailure;
  }

  add(task: Promise<void>): void {
    this.#running++;
    task.then(this.#taskDone, this.#taskFailed);
  }

  /** Resolves once every task added so far has settled. */
  idle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }
}
