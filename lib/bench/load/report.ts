/** Turning results into what people read: a header line and an aligned table. */
import type { Histogram } from "./histogram.ts";

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** p50, p90, p99 and max of a histogram of µs, in ms; null (JSON) when there are none. */
export function percentilesMs(histogram: Histogram): Percentiles | null {
  if (histogram.count === 0) return null;
  return {
    p50: histogram.percentile(0.5) / 1000,
    p90: histogram.percentile(0.9) / 1000,
    p99: histogram.percentile(0.99) / 1000,
    max: histogram.max / 1000,
  };
}

/** The latency columns: p50 ms, p90 ms, p99 ms, max ms. */
export function latencyCells(latency: Percentiles | null): [string, string][] {
  const cell = (value: number | undefined) => value === undefined ? "-" : value.toFixed(2);
  return [
    ["p50 ms", cell(latency?.p50)],
    ["p90 ms", cell(latency?.p90)],
    ["p99 ms", cell(latency?.p99)],
    ["max ms", cell(latency?.max)],
  ];
}

/** Seconds with two decimals, "-" when unknown (a server the bench did not start). */
export function seconds(value: number | null): string {
  return value === null || Number.isNaN(value) ? "-" : value.toFixed(2);
}

export function whole(value: number): string {
  return Math.round(value).toString();
}

/** Two lines, headers over right-aligned values. */
export function table(cells: [header: string, value: string][]): string {
  const widths = cells.map(([header, value]) => Math.max(header.length, value.length));
  const line = (pick: 0 | 1) => cells.map((cell, i) => cell[pick].padStart(widths[i])).join("  ");
  return `${line(0)}\n${line(1)}`;
}

/** "reason A: 3, reason B: 1", or "" for none. */
export function counts(record: Record<string, number>): string {
  return Object.entries(record).map(([name, count]) => `${name}: ${count}`).join(", ");
}

/** "machine busy %" of how many CPUs: whether the machine, not a process, was the limit. */
export function machineCells(busyPercent: number | null): [string, string][] {
  const busy = busyPercent === null ? "-" : busyPercent.toFixed(0);
  return [[`busy % of ${navigator.hardwareConcurrency} CPUs`, busy]];
}
