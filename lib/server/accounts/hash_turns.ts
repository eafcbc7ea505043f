/** Password hashes one IP address may have computed or waiting at once. @default 2 */
export const HASHES_PER_ADDRESS = 2;

/** A requester holds its share of password hashes already; the message says so. */
export class HashTurnRefusedError extends Error {
  override name = "HashTurnRefusedError";
}

/**
 * Password hashes in flight or waiting, per requester (see Accounts), so that one address
 * cannot hold every turn of the server's few (password_hash.ts) and starve the others'
 * logins: past HASHES_PER_ADDRESS, a request is refused at once rather than wait.
 *
 * A connection has at most one anyway: its frames are handled one after another
 * (ServedSession), each waiting for its hash, and a Hello costs a --rename-limit token.
 */
export class HashTurns {
  readonly #held = new Map<string, number>();

  /** Runs `task` (which hashes) in one of `requester`'s turns; throws HashTurnRefusedError without. */
  async run<T>(requester: string, task: () => Promise<T>): Promise<T> {
    const held = this.#held.get(requester) ?? 0;
    if (held >= HASHES_PER_ADDRESS) {
      throw new HashTurnRefusedError(
        `${HASHES_PER_ADDRESS} passwords from your address are being checked already; ` +
          "try again once they are answered",
      );
    }
    this.#held.set(requester, held + 1);
    try {
      return await task();
    } finally {
      const left = this.#held.get(requester)! - 1;
      if (left === 0) this.#held.delete(requester);
      else this.#held.set(requester, left);
    }
  }
}
