/**
 * `connections`: opens N connections as fast as allowed, each waiting for its Welcome,
 * keeps them all open until every worker is done, then closes them. Measures accepted
 * connections per second, connect-to-Welcome latency, failures by reason and, for a
 * server the bench started, its memory per connection.
 */
import { ChatLoadClient, describe } from "../chat_load_client.ts";
import { Histogram, type HistogramJson } from "../histogram.ts";
import { ownCpuSeconds, rssKiBOf } from "../proc.ts";
import {
  costCells,
  costFields,
  latencyCells,
  percentilesMs,
  printReport,
  whole,
} from "../report.ts";
import {
  checkOpenFiles,
  type Harness,
  loopbackAddress,
  SETUP_MS,
  share,
  Span,
  warnIfServerShort,
} from "../run_support.ts";
import { type CoordinatorLink, WorkerPool } from "../worker_protocol.ts";

export interface ConnectionsOptions {
  connections: number;
  rate: number;
  timeout: number;
  /** Connections being set up at once, across all workers. */
  inFlight: number;
}

/** Where a worker's connections start in the global numbering, and whether to spread them. */
export interface ConnectionsPlacement {
  firstIndex: number;
  spread: boolean;
}

interface Result {
  type: "result";
  accepted: number;
  failures: Record<string, number>;
  disconnects: Record<string, number>;
  latency: HistogramJson;
  connectSeconds: number;
  cpuSeconds: number;
}

/** Presence frames are all these connections get; small buffers keep 20000 of them cheap. */
const READ_BUFFER_BYTES = 4096;

export async function connectionsWorker(
  options: ConnectionsOptions,
  placement: ConnectionsPlacement,
  hostname: string,
  port: number,
  link: CoordinatorLink,
): Promise<void> {
  link.send({ type: "ready" });
  await link.expect("go");
  const cpuStart = ownCpuSeconds();
  const start = performance.now();
  const latency = new Histogram();
  const failures: Record<string, number> = {};
  const disconnects: Record<string, number> = {};
  const open: ChatLoadClient[] = [];
  /** Failures wait out --timeout: the rate counts up to the last Welcome instead. */
  let lastWelcome = start;
  const count = (record: Record<string, number>, reason: string) =>
    record[reason] = (record[reason] ?? 0) + 1;

  const attempt = async (index: number) => {
    const address = placement.spread ? loopbackAddress(placement.firstIndex + index) : hostname;
    const begun = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let client: ChatLoadClient | undefined;
    const connecting = (async () => {
      client = await ChatLoadClient.connect(address, port, READ_BUFFER_BYTES);
      await client.welcomed;
    })();
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no Welcome within ${options.timeout} s`)),
        options.timeout * 1000,
      );
    });
    try {
      await Promise.race([connecting, timedOut]);
      lastWelcome = performance.now();
      latency.record((lastWelcome - begun) * 1000);
      open.push(client!);
      client!.ended.then((reason) => {
        if (reason !== "closed by the bench") count(disconnects, reason);
      });
    } catch (error) {
      count(failures, describe(error));
      // A connection that completes after its timeout is not kept either.
      connecting.finally(() => client?.close()).catch(() => {});
    } finally {
      clearTimeout(timer);
    }
  };

  const attempts: Promise<void>[] = [];
  let inFlight = 0;
  let slot = Promise.withResolvers<void>();
  for (let index = 0; index < options.connections; index++) {
    if (options.rate > 0) {
      const due = start + index * 1000 / options.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    while (inFlight >= options.inFlight) await slot.promise;
    inFlight++;
    attempts.push(
      attempt(index).finally(() => {
        inFlight--;
        slot.resolve();
        slot = Promise.withResolvers<void>();
      }),
    );
  }
  await Promise.all(attempts);
  const connectSeconds = (lastWelcome - start) / 1000;
  link.send(
    {
      type: "result",
      accepted: open.length,
      failures,
      disconnects,
      latency: latency.toJSON(),
      connectSeconds,
      cpuSeconds: ownCpuSeconds() - cpuStart,
    } satisfies Result,
  );
  await link.expect("close");
  for (const client of open) client.close();
}

export async function coordinateConnections(
  options: ConnectionsOptions,
  { server, processes, json, setPool }: Harness,
): Promise<void> {
  const connections = (i: number) => share(options.connections, processes, i);
  checkOpenFiles(connections(0), processes);
  warnIfServerShort(server, options.connections);
  let firstIndex = 0;
  await using pool = new WorkerPool(Array.from({ length: processes }, (_, i) => {
    const args = [
      "connections",
      ...["--server", `${server.hostname}:${server.port}`, "--connections", `${connections(i)}`],
      ...["--rate", `${options.rate / processes}`, "--timeout", `${options.timeout}`],
      "--in-flight",
      `${Math.max(1, share(options.inFlight, processes, i))}`,
      ...["--first-index", `${firstIndex}`, ...(server.allLoopback ? ["--spread"] : [])],
    ];
    firstIndex += connections(i);
    return args;
  }));
  setPool(pool);
  await pool.expectAll("ready", SETUP_MS);
  const rssBefore = server.pid === undefined ? NaN : rssKiBOf(server.pid);
  const span = new Span(server);
  await pool.sendAll({ type: "go" });
  // Attempts run --in-flight at a time, each bounded by --timeout.
  const perWorker = Math.max(1, share(options.inFlight, processes, processes - 1));
  const worstSeconds = Math.ceil(connections(0) / perWorker) * options.timeout +
    (options.rate > 0 ? options.connections / options.rate : 0);
  const results = await pool.expectAll<Result>("result", (worstSeconds + 60) * 1000);
  const costs = span.end(results.map((result) => result.cpuSeconds));
  const rssAfter = server.pid === undefined ? NaN : rssKiBOf(server.pid);
  await pool.sendAll({ type: "close" });

  const latency = new Histogram();
  for (const result of results) latency.merge(Histogram.fromJSON(result.latency));
  const merge = (pick: (result: Result) => Record<string, number>) => {
    const merged: Record<string, number> = {};
    for (const result of results) {
      for (const [name, n] of Object.entries(pick(result))) merged[name] = (merged[name] ?? 0) + n;
    }
    return merged;
  };
  const accepted = results.reduce((n, result) => n + result.accepted, 0);
  const connectSeconds = Math.max(...results.map((result) => result.connectSeconds));
  const known = (kiB: number) => Number.isNaN(kiB) ? null : kiB;
  const report = {
    scenario: "connections",
    server: server.label,
    ...options,
    processes,
    requested: options.connections,
    accepted,
    failed: options.connections - accepted,
    failures: merge((result) => result.failures),
    disconnectedWhileOpen: merge((result) => result.disconnects),
    /** From the start to the last Welcome. */
    connectSeconds,
    acceptedPerSecond: accepted > 0 ? accepted / connectSeconds : 0,
    latencyMs: percentilesMs(latency),
    serverRssBeforeKiB: known(rssBefore),
    serverRssAfterKiB: known(rssAfter),
    serverRssPerConnectionKiB: accepted > 0 ? known((rssAfter - rssBefore) / accepted) : null,
    ...costFields(costs),
  };
  const mib = (kiB: number | null) => kiB === null ? "-" : (kiB / 1024).toFixed(1);
  printReport(report, json, () => ({
    header: `connections: ${options.connections} ` +
      `${options.rate > 0 ? `at ${options.rate}/s` : "as fast as possible"}, ` +
      `timeout ${options.timeout} s, ${processes} process(es), target: ${server.label}`,
    cells: [
      ["accepted", `${accepted}`],
      ["failed", `${report.failed}`],
      ["accepted/s", whole(report.acceptedPerSecond)],
      ...latencyCells(report.latencyMs),
      ["RSS before MiB", mib(report.serverRssBeforeKiB)],
      ["RSS after MiB", mib(report.serverRssAfterKiB)],
      [
        "KiB/conn",
        report.serverRssPerConnectionKiB === null
          ? "-"
          : report.serverRssPerConnectionKiB.toFixed(1),
      ],
      ...costCells(costs),
    ],
    notes: {
      "failures": report.failures,
      "disconnected while open": report.disconnectedWhileOpen,
    },
    costs,
  }));
}
