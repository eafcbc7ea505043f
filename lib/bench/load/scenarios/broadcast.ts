/**
 * `broadcast`: N clients, P of them publishing broadcasts, each publisher keeping at
 * most W in flight (acknowledged by its own copy coming back). Every client counts and
 * checks what it receives. Against the chat server or, with --target redis, Redis
 * pub/sub with one channel, so one run compares the two on the same work.
 */
import { ownCpuSeconds } from "../proc.ts";
import { Pacer, waitUntil } from "../pacer.ts";
import { deliveryCells, deliveryFields, printReport, whole } from "../report.ts";
import { checkOpenFiles, DRAIN_MS, type Harness, SETUP_MS, share, Span } from "../run_support.ts";
import { mergeTallies, Tally, type TallyJson } from "../tally.ts";
import { type CoordinatorLink, WorkerPool } from "../worker_protocol.ts";
import { chatFleet, type Fleet, redisFleet } from "./fleets.ts";

export interface BroadcastOptions {
  clients: number;
  publishers: number;
  window: number;
  rate: number;
  size: number;
  duration: number;
  target: "chat" | "redis";
}

interface Ready {
  type: "ready";
  publisherIds: number[];
}
interface Go {
  type: "go";
  publisherIds: number[];
  firstPublisher: number;
}
interface Sent {
  type: "sent";
  sent: number;
}
interface Expect {
  type: "expect";
  sent: number;
}
interface Result {
  type: "result";
  tally: TallyJson;
  publishSeconds: number;
  cpuSeconds: number;
}

/** The worker's part: connect, publish on "go", drain, report. */
export async function broadcastWorker(
  options: BroadcastOptions,
  hostname: string,
  port: number,
  link: CoordinatorLink,
): Promise<void> {
  const tally = new Tally();
  const connect = options.target === "redis" ? redisFleet : chatFleet;
  const fleet: Fleet = await connect(
    hostname,
    port,
    options.clients,
    options.publishers,
    options.size,
    tally,
  );
  link.send({ type: "ready", publisherIds: fleet.publisherIds } satisfies Ready);

  const go = await link.expect<Go>("go");
  const cpuStart = ownCpuSeconds();
  const pacer = new Pacer(options.window, options.rate);
  const sent = new Float64Array(options.publishers);
  const acked = new Float64Array(options.publishers);
  const pump = (publisher: number) => {
    while (pacer.may(sent[publisher], acked[publisher])) {
      fleet.publish(publisher, ++sent[publisher]);
    }
  };
  const pumpAll = () => {
    for (let publisher = 0; publisher < options.publishers; publisher++) pump(publisher);
  };
  const totalPublishers = go.publisherIds.length;
  const last = Array.from({ length: options.clients }, () => new Float64Array(totalPublishers));
  const received = new Float64Array(options.clients);
  fleet.start(go.publisherIds, go.firstPublisher, (receiver, publisher, seq, sentMs, nowMs) => {
    received[receiver]++;
    tally.accept(last[receiver], publisher, seq, sentMs, nowMs);
    // A publisher's own copy, on its own connection, acknowledges it.
    const own = publisher - go.firstPublisher;
    if (own === receiver && own < options.publishers) {
      acked[own]++;
      pump(own);
    }
  });

  await pacer.run(options.duration, pumpAll);
  const drainDeadline = performance.now() + DRAIN_MS;
  await waitUntil(() => acked.every((count, i) => count >= sent[i]), drainDeadline);
  link.send({ type: "sent", sent: sent.reduce((a, b) => a + b, 0) } satisfies Sent);
  // Every receiver should get every broadcast of every worker: the coordinator's total.
  const expected = (await link.expect<Expect>("expect")).sent;
  await waitUntil(() => received.every((count) => count >= expected), drainDeadline);
  link.send(
    {
      type: "result",
      tally: tally.toJSON(),
      publishSeconds: pacer.publishSeconds,
      cpuSeconds: ownCpuSeconds() - cpuStart,
    } satisfies Result,
  );
  fleet.close();
}

/** The coordinator's part: split the clients over workers, run them, merge, print. */
export async function coordinateBroadcast(
  options: BroadcastOptions,
  { server, processes, json, setPool }: Harness,
): Promise<void> {
  const clients = (i: number) => share(options.clients, processes, i);
  const publishers = (i: number) => share(options.publishers, processes, i);
  // A Redis publisher has a second connection, for PUBLISH.
  const extra = options.target === "redis" ? publishers(0) : 0;
  checkOpenFiles(clients(0) + extra, processes);
  await using pool = new WorkerPool(Array.from({ length: processes }, (_, i) => [
    "broadcast",
    ...(options.target === "redis"
      ? ["--target", "redis", "--redis", `redis://${server.hostname}:${server.port}`]
      : ["--server", `${server.hostname}:${server.port}`]),
    ...["--clients", `${clients(i)}`, "--publishers", `${publishers(i)}`],
    ...["--window", `${options.window}`, "--rate", `${options.rate}`],
    ...["--size", `${options.size}`, "--duration", `${options.duration}`],
  ]));
  setPool(pool);
  const ready = await pool.expectAll<Ready>("ready", SETUP_MS);

  const publisherIds = ready.flatMap((message) => message.publisherIds);
  const span = new Span(server);
  let firstPublisher = 0;
  for (const [index, message] of ready.entries()) {
    await pool.send(index, { type: "go", publisherIds, firstPublisher } satisfies Go);
    firstPublisher += message.publisherIds.length;
  }
  const waitMs = options.duration * 1000 + DRAIN_MS + 30_000;
  const sent = (await pool.expectAll<Sent>("sent", waitMs)).reduce((n, m) => n + m.sent, 0);
  await pool.sendAll({ type: "expect", sent } satisfies Expect);
  const results = await pool.expectAll<Result>("result", DRAIN_MS + 30_000);
  const costs = span.end(results.map((result) => result.cpuSeconds));

  const tally = mergeTallies(results.map((result) => result.tally));
  const publishSeconds = Math.max(...results.map((result) => result.publishSeconds));
  const expectedDeliveries = sent * options.clients;
  const report = {
    scenario: "broadcast",
    server: server.label,
    ...options,
    processes,
    broadcastsSent: sent,
    deliveries: tally.received,
    expectedDeliveries,
    publishSeconds,
    deliveriesPerSecond: tally.received / publishSeconds,
    broadcastsPerSecond: sent / publishSeconds,
    ...deliveryFields(tally, expectedDeliveries, costs),
  };
  const target = options.target === "redis" ? `Redis pub/sub, ${server.label}` : server.label;
  printReport(report, json, () => ({
    header: `broadcast: ${options.clients} clients, ${options.publishers} publishers, ` +
      `window ${options.window}, ${options.rate > 0 ? `${options.rate} msg/s each, ` : ""}` +
      `${options.size}-byte messages, ${options.duration} s, ${processes} process(es), ` +
      `target: ${target}`,
    cells: [
      ["deliveries/s", whole(report.deliveriesPerSecond)],
      ["broadcasts/s", whole(report.broadcastsPerSecond)],
      ...deliveryCells(report, costs),
    ],
    notes: { "disconnected": report.disconnects, "errors received": report.errors },
    costs,
  }));
}
