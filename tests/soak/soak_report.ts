import type { SoakClient } from "./soak_client.ts";

/** Delivery totals over every healthy client. */
export interface Tally {
  sentEcho: number;
  sentBroadcast: number;
  /** Chats the server refused with an Error (RATE_LIMITED, say): not expected anywhere. */
  rejected: number;
  rateLimited: number;
  expected: number;
  /** Distinct expected deliveries received. */
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Chat events that match nothing sent. */
  unexpected: number;
  /** Error frames other than SHUTTING_DOWN. */
  errors: number;
  /** Clients cut by the server or whose writes failed; left out of the delivery totals. */
  unhealthy: number;
  presence: number;
  latencyMeanMs: number;
  latencyMaxMs: number;
}

/**
 * Counts what every healthy client expects (its own echoes, and every broadcast from
 * every broadcaster, less what the server refused) against what it received.
 */
export function tally(clients: readonly SoakClient[], broadcasters: readonly SoakClient[]): Tally {
  const broadcastsAccepted = broadcasters.reduce(
    (sum, b) => sum + b.sentBroadcast - b.rejectedBroadcast,
    0,
  );
  const t: Tally = {
    sentEcho: 0,
    sentBroadcast: 0,
    rejected: 0,
    rateLimited: 0,
    expected: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    unexpected: 0,
    errors: 0,
    unhealthy: 0,
    presence: 0,
    latencyMeanMs: 0,
    latencyMaxMs: 0,
  };
  let latencySum = 0;
  let latencyCount = 0;
  for (const client of clients) {
    t.sentEcho += client.sentEcho;
    t.sentBroadcast += client.sentBroadcast;
    t.rejected += client.rejectedEcho + client.rejectedBroadcast;
    t.rateLimited += client.rateLimited;
    t.errors += client.errorCount;
    t.presence += client.presence;
    t.unexpected += client.unexpected;
    if (!client.healthy) {
      t.unhealthy++;
      continue;
    }
    t.expected += client.sentEcho - client.rejectedEcho + broadcastsAccepted;
    for (const tracker of [client.echoes, ...client.broadcasts]) {
      t.delivered += tracker.unique;
      t.duplicated += tracker.duplicated;
      t.outOfOrder += tracker.outOfOrder;
    }
    latencySum += client.latencySumMs;
    latencyCount += client.latencyCount;
    t.latencyMaxMs = Math.max(t.latencyMaxMs, client.maxLatencyMs);
  }
  t.lost = t.expected - t.delivered;
  t.latencyMeanMs = latencyCount === 0 ? 0 : latencySum / latencyCount;
  return t;
}

/** Prints rows as a two-column table. */
export function printTable(title: string, rows: readonly [string, string | number][]): void {
  const width = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(...rows.map(([, value]) => String(value).length));
  const rule = `+-${"-".repeat(width)}-+-${"-".repeat(valueWidth)}-+`;
  const lines = [title, rule];
  for (const [label, value] of rows) {
    lines.push(`| ${label.padEnd(width)} | ${String(value).padStart(valueWidth)} |`);
  }
  lines.push(rule);
  console.log(lines.join("\n"));
}

/** Rounds to `digits` decimals, for the report. */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
