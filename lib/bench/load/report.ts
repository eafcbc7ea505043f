/** Turning results into what people read: a header line and an aligned table. */
import { bottleneckWarning, cpuPercent, type ToolCpu } from "./cpu_usage.ts";
import type { Histogram } from "./histogram.ts";
import type { TallyJson } from "./tally.ts";

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

/** What a Span measured over a run: what every report ends with. */
export interface Costs {
  elapsedSeconds: number;
  benchCpuSeconds: number;
  serverCpuSeconds: number | null;
  machineBusyPercent: number | null;
  toolCpu: ToolCpu;
}

/** The server's CPU in % of one CPU over the span, null when unknown (not started by us). */
function serverCpuPercent(costs: Costs): number | null {
  return costs.serverCpuSeconds === null
    ? null
    : cpuPercent(costs.serverCpuSeconds, costs.elapsedSeconds);
}

/** A percentage without decimals, "-" when unknown. */
function percent(value: number | null): string {
  return value === null ? "-" : value.toFixed(0);
}

/** A report's closing fields: the CPU of the bench and of the server, the machine's, the time. */
export function costFields(costs: Costs) {
  return {
    benchCpuSeconds: costs.benchCpuSeconds,
    serverCpuSeconds: costs.serverCpuSeconds,
    loadToolCpuPercent: costs.toolCpu.percentByProcess,
    loadToolCpuPercentMax: costs.toolCpu.maxPercent,
    loadToolBottleneck: costs.toolCpu.bottleneck,
    serverCpuPercent: serverCpuPercent(costs),
    machineBusyPercent: costs.machineBusyPercent,
    cpus: navigator.hardwareConcurrency,
    elapsedSeconds: costs.elapsedSeconds,
  };
}

/**
 * A table's closing columns: bench CPU s, server CPU s, the busiest tool process's and the
 * server's % of one CPU, machine busy %, elapsed s.
 */
export function costCells(costs: Costs): [string, string][] {
  return [
    ["bench CPU s", seconds(costs.benchCpuSeconds)],
    ["server CPU s", seconds(costs.serverCpuSeconds)],
    ["tool max CPU %", percent(costs.toolCpu.maxPercent)],
    ["server CPU %", percent(serverCpuPercent(costs))],
    ...machineCells(costs.machineBusyPercent),
    ["elapsed s", seconds(costs.elapsedSeconds)],
  ];
}

/**
 * A checked scenario's closing fields: what the receivers' check found, of `expected`
 * deliveries (latency, lost, duplicated, out of order, why connections ended, what errors
 * came back), then the costs.
 */
export function deliveryFields(
  tally: TallyJson & { histogram: Histogram },
  expected: number,
  costs: Costs,
) {
  return {
    latencyMs: percentilesMs(tally.histogram),
    lost: Math.max(0, expected - (tally.received - tally.duplicates)),
    duplicates: tally.duplicates,
    outOfOrder: tally.outOfOrder,
    disconnects: tally.disconnects,
    errors: tally.errors,
    ...costFields(costs),
  };
}

export type Delivery = ReturnType<typeof deliveryFields>;

/** A checked scenario's closing columns: latency, lost, dup, out-of-order, then the costs. */
export function deliveryCells(delivery: Delivery, costs: Costs): [string, string][] {
  return [
    ...latencyCells(delivery.latencyMs),
    ["lost", `${delivery.lost}`],
    ["dup", `${delivery.duplicates}`],
    ["out-of-order", `${delivery.outOfOrder}`],
    ...costCells(costs),
  ];
}

/** What people read of a run: a header line, a table, then a line for each nonempty count. */
export interface Readable {
  header: string;
  cells: [header: string, value: string][];
  /** Label -> counts by name, printed as "label: name: n, ..." when there are any. */
  notes: Record<string, Record<string, number>>;
  /** For the tool's CPU by process, and the warning when the tool was the limit. */
  costs: Costs;
}

/** `record` with its values rounded to whole numbers, for a note line. */
function rounded(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(record).map(([name, value]) => [name, Math.round(value)]),
  );
}

/** Prints `report` as one line of JSON or, for people, as `readable` describes it. */
export function printReport(report: object, json: boolean, readable: () => Readable): void {
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  const { header, cells, notes, costs } = readable();
  console.log(header);
  console.log(table(cells));
  const toolCpu = rounded(costs.toolCpu.percentByProcess);
  for (const [label, record] of Object.entries({ ...notes, "load tool CPU %": toolCpu })) {
    if (counts(record)) console.log(`${label}: ${counts(record)}`);
  }
  // Last, so it is what a reader sees under the figures it qualifies.
  const warning = bottleneckWarning(costs.toolCpu);
  if (warning !== undefined) console.log(warning);
}
