/**
 * Soak/load test, bounded: SOAK_CLIENTS clients (default 1000) on 127.0.0.1 send a
 * mix of echoes and broadcasts for SOAK_SECONDS (default 5), paced under the
 * server's per-session chat rate limit; then every delivery is accounted for.
 *
 *   deno test --allow-net --allow-run --allow-read --allow-env tests/soak/
 *   SOAK_SECONDS=300 deno test --allow-net --allow-run --allow-read --allow-env tests/soak/
 *
 * Environment: SOAK_SECONDS, SOAK_CLIENTS, SOAK_BROADCASTERS (default 2% of the
 * clients, at least 2), SOAK_SERVER_ARGS (extra server arguments, space-separated).
 */
import assert from "node:assert/strict";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { deadline } from "../support/deadline.ts";
import { cpuSeconds, RssSampler } from "./rss_sampler.ts";
import { SoakClient } from "./soak_client.ts";
import { printTable, round, type Tally, tally } from "./soak_report.ts";

/** Each client's echoes, per second; its own client_seq counts up. */
const ECHOES_PER_SECOND = 1;
/** Each broadcaster's broadcasts, per second, on top of its echoes: 3 chats/s in all, under 20/s. */
const BROADCASTS_PER_SECOND = 2;
/** Clients connecting at once; the next batch starts when this one has its Welcomes. */
const CONNECT_BATCH = 50;
const CONNECT_TIMEOUT_MS = 10_000;
/** How long after the last send every expected delivery may take to arrive. */
const DRAIN_TIMEOUT_MS = 30_000;
const PACING_TICK_MS = 10;
const RSS_SAMPLE_MS = 250;

interface SoakConfig {
  clients: number;
  seconds: number;
  broadcasters: number;
  serverArgs: string[];
}

function readConfig(): SoakConfig {
  const clients = positiveInteger("SOAK_CLIENTS", 1000);
  const seconds = positiveNumber("SOAK_SECONDS", 5);
  const broadcasters = positiveInteger(
    "SOAK_BROADCASTERS",
    Math.min(clients, Math.max(2, Math.round(clients * 0.02))),
  );
  assert.ok(broadcasters <= clients, "SOAK_BROADCASTERS must not exceed SOAK_CLIENTS");
  const serverArgs = (Deno.env.get("SOAK_SERVER_ARGS") ?? "").split(/\s+/).filter((a) => a !== "");
  return { clients, seconds, broadcasters, serverArgs };
}

function positiveNumber(name: string, fallback: number): number {
  const text = Deno.env.get(name);
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be > 0, not "${text}"`);
  return value;
}

function positiveInteger(name: string, fallback: number): number {
  const value = positiveNumber(name, fallback);
  if (!Number.isInteger(value)) throw new Error(`${name} must be a whole number, not ${value}`);
  return value;
}

/** Polls `condition` every `pollMs` until it holds or `ms` have passed; returns whether it held. */
async function waitUntil(condition: () => boolean, ms: number, pollMs = 50): Promise<boolean> {
  const giveUpAt = Date.now() + ms;
  while (!condition()) {
    if (Date.now() >= giveUpAt) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return true;
}

async function connectAll(port: number, count: number): Promise<SoakClient[]> {
  const clients: SoakClient[] = [];
  try {
    for (let start = 0; start < count; start += CONNECT_BATCH) {
      const size = Math.min(CONNECT_BATCH, count - start);
      const batch = await Promise.allSettled(
        Array.from({ length: size }, () => SoakClient.connect(port, CONNECT_TIMEOUT_MS)),
      );
      for (const result of batch) if (result.status === "fulfilled") clients.push(result.value);
      const failed = batch.find((result) => result.status === "rejected");
      if (failed !== undefined) {
        throw new Error(`connecting client ${start + 1}..${start + size} of ${count} failed`, {
          cause: (failed as PromiseRejectedResult).reason,
        });
      }
    }
    return clients;
  } catch (error) {
    await Promise.all(clients.map((client) => client.close()));
    throw error;
  }
}

/**
 * Sends on a timer until `endAt`: each client an echo every 1/ECHOES_PER_SECOND s, each
 * broadcaster a broadcast every 1/BROADCASTS_PER_SECOND s, with phases spread evenly so
 * the load is smooth. Never more than one of each per client per tick: after a stall,
 * it does not catch up in a burst.
 */
function runWorkload(
  clients: readonly SoakClient[],
  broadcasters: readonly SoakClient[],
  endAt: number,
): Promise<void> {
  const start = Date.now();
  const echoPeriod = 1000 / ECHOES_PER_SECOND;
  const broadcastPeriod = 1000 / BROADCASTS_PER_SECOND;
  const nextEcho = clients.map((_, i) => start + (i * echoPeriod) / clients.length);
  const nextBroadcast = broadcasters.map((_, i) =>
    start + (i * broadcastPeriod) / broadcasters.length
  );
  const { promise, resolve } = Promise.withResolvers<void>();
  const timer = setInterval(() => {
    const now = Date.now();
    if (now >= endAt) {
      clearInterval(timer);
      resolve();
      return;
    }
    for (let i = 0; i < clients.length; i++) {
      if (nextEcho[i] > now) continue;
      clients[i].sendEcho();
      nextEcho[i] = Math.max(nextEcho[i] + echoPeriod, now);
    }
    for (let i = 0; i < broadcasters.length; i++) {
      if (nextBroadcast[i] > now) continue;
      broadcasters[i].sendBroadcast();
      nextBroadcast[i] = Math.max(nextBroadcast[i] + broadcastPeriod, now);
    }
  }, PACING_TICK_MS);
  return promise;
}

function describeProblems(clients: readonly SoakClient[]): string {
  const lines: string[] = [];
  for (const client of clients) {
    if (lines.length >= 5) break;
    if (!client.healthy || client.errors.length > 0) {
      lines.push(
        `session ${client.sessionId}: ${client.healthy ? "healthy" : "UNHEALTHY"}` +
          `${client.endedByServer ? ", closed by the server" : ""}` +
          `${client.writeError ? `, write failed: ${client.writeError}` : ""}` +
          `${client.errors.length > 0 ? `, errors: ${client.errors.join("; ")}` : ""}`,
      );
    }
  }
  return lines.join("\n") || "none";
}

const config = readConfig();

Deno.test(
  `soak - ${config.clients} clients, mixed echo and broadcast for ${config.seconds} s: ` +
    "every delivery exactly once and in order, and the server stays up",
  async () => {
    console.log(
      `soak config: ${config.clients} clients (${config.broadcasters} broadcasting), ` +
        `${config.seconds} s; per client ${ECHOES_PER_SECOND} echo/s, per broadcaster ` +
        `+${BROADCASTS_PER_SECOND} broadcast/s; server args: ${
          ["--quiet", ...config.serverArgs].join(" ")
        }`,
    );
    await using server = await ServerProcess.start(["--quiet", ...config.serverArgs]);
    const rss = new RssSampler(server.process.pid);
    await rss.sample();
    const idleRssMib = rss.lastRssMib;
    const pid = server.process.pid;
    const cpuAtStart = await cpuSeconds(pid) ?? NaN;
    rss.start(RSS_SAMPLE_MS);
    let clients: SoakClient[] = [];
    try {
      const connectStart = performance.now();
      clients = await connectAll(server.port, config.clients);
      const connectSeconds = (performance.now() - connectStart) / 1000;
      console.log(
        `soak: ${clients.length} clients connected in ${connectSeconds.toFixed(1)} s ` +
          `(${(clients.length / connectSeconds).toFixed(0)}/s)`,
      );
      await rss.sample();
      const connectedRssMib = rss.lastRssMib;
      const cpuAfterConnect = await cpuSeconds(pid) ?? NaN;

      const broadcasters = clients.filter((_, i) =>
        i % Math.floor(clients.length / config.broadcasters) === 0
      ).slice(0, config.broadcasters);
      for (const client of clients) client.expectBroadcastsFrom(broadcasters);

      // Load: paced sends for the configured time.
      const loadStart = performance.now();
      const endAt = Date.now() + config.seconds * 1000;
      await deadline(
        runWorkload(clients, broadcasters, endAt),
        config.seconds * 1000 + 10_000,
        "the workload to finish",
      );
      await deadline(
        Promise.all(clients.map((client) => client.flushed())),
        10_000,
        "the last sends to be written",
      );
      const sendSeconds = (performance.now() - loadStart) / 1000;

      // Drain: wait, bounded, for every expected delivery.
      const drainStart = performance.now();
      let now: Tally = tally(clients, broadcasters);
      const complete = await waitUntil(() => {
        now = tally(clients, broadcasters);
        return now.delivered >= now.expected || now.unhealthy > 0;
      }, DRAIN_TIMEOUT_MS);
      const drainMs = performance.now() - drainStart;
      const deliverySeconds = (performance.now() - loadStart) / 1000;
      // A ping barrier: each Pong comes after anything still queued for that client, so a
      // late duplicate would be counted.
      for (const client of clients) client.sendPing(1n);
      await waitUntil(
        () => clients.every((client) => client.pongs >= 1 || !client.healthy),
        10_000,
      );
      await rss.stop();
      const cpuAfterLoad = await cpuSeconds(pid) ?? NaN;
      const t = tally(clients, broadcasters);

      const report = {
        clients: clients.length,
        broadcasters: broadcasters.length,
        seconds: config.seconds,
        connect_seconds: round(connectSeconds, 2),
        sent_echo: t.sentEcho,
        sent_broadcast: t.sentBroadcast,
        rejected: t.rejected,
        rate_limited: t.rateLimited,
        expected: t.expected,
        delivered: t.delivered,
        lost: t.lost,
        duplicated: t.duplicated,
        out_of_order: t.outOfOrder,
        unexpected: t.unexpected,
        errors: t.errors,
        unhealthy_clients: t.unhealthy,
        deliveries_per_second: Math.round(t.delivered / deliverySeconds),
        send_seconds: round(sendSeconds, 2),
        drain_ms: Math.round(drainMs),
        latency_mean_ms: round(t.latencyMeanMs, 1),
        latency_max_ms: t.latencyMaxMs,
        presence_frames: t.presence,
        server_cpu_seconds_connect: round(cpuAfterConnect - cpuAtStart, 2),
        server_cpu_seconds_load: round(cpuAfterLoad - cpuAfterConnect, 2),
        server_idle_rss_mib: round(idleRssMib),
        server_connected_rss_mib: round(connectedRssMib),
        server_peak_rss_mib: round(rss.peakRssMib),
        server_vmhwm_mib: round(rss.hwmMib),
        rss_samples: rss.samples,
        test_peak_rss_mib: round(rss.testPeakRssMib),
      };
      printTable(
        `soak report (${config.clients} clients, ${config.seconds} s)`,
        Object.entries(report),
      );
      console.log(`soak report: ${JSON.stringify(report)}`);

      const problems = () => describeProblems(clients);
      assert.equal(t.unhealthy, 0, `clients cut or failing: ${problems()}`);
      assert.equal(t.errors, 0, `error frames received: ${problems()}`);
      assert.ok(complete, `deliveries incomplete after ${DRAIN_TIMEOUT_MS} ms`);
      assert.equal(t.lost, 0, "lost");
      assert.equal(t.duplicated, 0, "duplicated");
      assert.equal(t.outOfOrder, 0, "out of order");
      assert.equal(t.unexpected, 0, "unexpected chat events");
      assert.ok(t.expected > 0);

      // Still serving: a fresh client gets a Welcome and a Pong.
      {
        await using fresh = await TestClient.connect(server.port);
        await fresh.send({ body: { case: "ping", value: { nonce: 42n } } });
        assert.equal((await fresh.next("pong")).nonce, 42n);
      }

      // A graceful stop with every soak client still connected.
      const stopStart = performance.now();
      const status = await server.stop("SIGINT", 30_000);
      const stopMs = performance.now() - stopStart;
      const allClosed = await waitUntil(
        () => clients.every((client) => client.endedByServer),
        10_000,
      );
      const notified = clients.filter((client) => client.shutdownNotice).length;
      console.log(
        `soak: server stopped in ${Math.round(stopMs)} ms with code ${status.code}; ` +
          `${notified}/${clients.length} clients got SHUTTING_DOWN`,
      );
      assert.equal(status.code, 0, `server exit code; stderr:\n${server.stderr.text}`);
      assert.ok(allClosed, "every soak client's connection closed by the server");
      assert.equal(server.stderr.text, "", "server stderr");
    } finally {
      await rss.stop();
      await Promise.all(clients.map((client) => client.close()));
    }
  },
);
