/**
 * Exactly-once, in-order bookkeeping for one sender's numbered messages (1, 2, 3, ...)
 * as seen by one recipient, in constant memory when all goes well: it keeps the
 * highest number seen and only the numbers skipped over and not yet seen.
 *
 * - `unique`: distinct numbers received.
 * - `duplicated`: a number received again.
 * - `outOfOrder`: a number received after a higher one (it still counts as unique).
 */
export class SeqTracker {
  highest = 0;
  unique = 0;
  duplicated = 0;
  outOfOrder = 0;
  #missing: Set<number> | undefined;

  /** Records `seq`, which the caller has checked is at least 1 and was really sent. */
  add(seq: number): void {
    if (seq > this.highest) {
      if (seq > this.highest + 1) {
        this.#missing ??= new Set();
        // Bounded: the caller checked that `seq` was sent, so the gap is at most what was sent.
        for (let skipped = this.highest + 1; skipped < seq; skipped++) this.#missing.add(skipped);
      }
      this.highest = seq;
      this.unique++;
    } else if (this.#missing?.delete(seq)) {
      this.unique++;
      this.outOfOrder++;
    } else {
      this.duplicated++;
    }
  }
}
