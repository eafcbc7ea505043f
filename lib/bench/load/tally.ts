/**
 * Counts what receivers got and checks it: every publisher numbers its messages
 * 1, 2, 3..., so per receiver and publisher each sequence number must be the last plus
 * one. One below or equal to the last is a duplicate (or a late arrival); one further
 * ahead is out of order (something before it is missing or late). Lost messages are
 * what is missing at the end: expected minus the distinct messages received.
 */
import { Histogram, type HistogramJson } from "./histogram.ts";

export class Tally {
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  readonly latency = new Histogram();
  /** Why connections ended early, and the error codes the server sent: name -> count. */
  readonly disconnects: Record<string, number> = {};
  readonly errors: Record<string, number> = {};

  /**
   * Checks message `seq` from publisher `publisher` against `last`, the receiver's last
   * sequence number per publisher, and records its latency.
   */
  accept(last: Float64Array, publisher: number, seq: number, sentMs: number, nowMs: number): void {
    this.received++;
    const previous = last[publisher];
    if (seq <= previous) {
      this.duplicates++;
      return;
    }
    if (seq !== previous + 1) this.outOfOrder++;
    last[publisher] = seq;
    // NaN when the content did not start with a send time: counted, not timed.
    if (sentMs === sentMs) this.latency.record((nowMs - sentMs) * 1000);
  }

  disconnected(reason: string): void {
    this.disconnects[reason] = (this.disconnects[reason] ?? 0) + 1;
  }

  error(code: string, count = 1): void {
    this.errors[code] = (this.errors[code] ?? 0) + count;
  }

  toJSON(): TallyJson {
    return {
      received: this.received,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      latency: this.latency.toJSON(),
      disconnects: this.disconnects,
      errors: this.errors,
    };
  }
}

export interface TallyJson {
  received: number;
  duplicates: number;
  outOfOrder: number;
  latency: HistogramJson;
  disconnects: Record<string, number>;
  errors: Record<string, number>;
}

/** Several workers' tallies as one. */
export function mergeTallies(tallies: TallyJson[]): TallyJson & { histogram: Histogram } {
  const histogram = new Histogram();
  const sum = (pick: (tally: TallyJson) => number) => tallies.reduce((n, t) => n + pick(t), 0);
  const counts = (pick: (tally: TallyJson) => Record<string, number>) => {
    const merged: Record<string, number> = {};
    for (const tally of tallies) {
      for (const [name, count] of Object.entries(pick(tally))) {
        merged[name] = (merged[name] ?? 0) + count;
      }
    }
    return merged;
  };
  for (const tally of tallies) histogram.merge(Histogram.fromJSON(tally.latency));
  return {
    received: sum((t) => t.received),
    duplicates: sum((t) => t.duplicates),
    outOfOrder: sum((t) => t.outOfOrder),
    latency: histogram.toJSON(),
    histogram,
    disconnects: counts((t) => t.disconnects),
    errors: counts((t) => t.errors),
  };
}
