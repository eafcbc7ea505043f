/**
 * Who holds which nickname key across the workers of one server process, kept by the
 * main thread: it answers every worker's claims one at a time, so two workers cannot
 * both give out `alice` (what the Lua script does for a Redis cluster).
 *
 * A holder is `"node:sessionId"`. Guest names are never claimed: nobody else may take
 * one (see nicknameProblem), so they need no coordination.
 */
export class NicknameCoordinator {
  /** Nickname key -> holder. */
  readonly #holders = new Map<string, string>();
  /** Holder -> the key it holds: a session holds one at most. */
  readonly #keys = new Map<string, string>();

  /**
   * Gives `key` to `holder` unless someone else holds it, releasing the key the holder
   * had (`previousKey`, or whatever it holds).
   */
  claim(key: string, holder: string, previousKey?: string): "claimed" | "taken" {
    const current = this.#holders.get(key);
    if (current !== undefined && current !== holder) return "taken";
    const held = this.#keys.get(holder);
    if (held !== undefined && held !== key) this.#holders.delete(held);
    if (previousKey !== undefined && previousKey !== key) this.#releaseKey(previousKey, holder);
    this.#holders.set(key, holder);
    this.#keys.set(holder, key);
    return "claimed";
  }

  /** Frees whatever `holder` holds: its session left. */
  release(holder: string): void {
    const key = this.#keys.get(holder);
    if (key === undefined) return;
    this.#keys.delete(holder);
    this.#holders.delete(key);
  }

  /** Who holds `key`, if anyone. */
  holder(key: string): string | undefined {
    return this.#holders.get(key);
  }

  /** Keys held. */
  get size(): number {
    return this.#holders.size;
  }

  #releaseKey(key: string, holder: string): void {
    if (this.#holders.get(key) !== holder) return;
    this.#holders.delete(key);
    if (this.#keys.get(holder) === key) this.#keys.delete(holder);
  }
}
