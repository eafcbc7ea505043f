/** Gaps longer than this are not remembered: they are presence events skipped in an outage. */
const MAX_GAP = 1024;
/** Missing sequence numbers remembered per process, oldest forgotten first. */
const MAX_GAPS = 4096;

/**
 * Which stream entries of each publishing process were applied. An entry replayed after
 * a cut, or sent again from an outbox, is recognised and skipped; one that arrives late
 * to fill a gap (its first write was refused by Redis) is applied.
 */
export class AppliedEntries {
  readonly #byOrigin = new Map<string, { node: number; highest: number; gaps: Set<number> }>();

  /** True, recording it, when the entry was not applied before. */
  take(origin: string, node: number, seq: number): boolean {
    const applied = this.#byOrigin.get(origin);
    if (applied === undefined) {
      this.#byOrigin.set(origin, { node, highest: seq, gaps: new Set() });
      return true;
    }
    if (seq > applied.highest) {
      if (seq - applied.highest - 1 <= MAX_GAP) {
        for (let missing = applied.highest + 1; missing < seq; missing++) applied.gaps.add(missing);
        for (const oldest of applied.gaps) {
          if (applied.gaps.size <= MAX_GAPS) break;
          applied.gaps.delete(oldest);
        }
      }
      applied.highest = seq;
      return true;
    }
    return applied.gaps.delete(seq);
  }

  /** Forgets the processes of a server that is gone. */
  forgetServer(node: number): void {
    for (const [origin, applied] of this.#byOrigin) {
      if (applied.node === node) this.#byOrigin.delete(origin);
    }
  }
}
