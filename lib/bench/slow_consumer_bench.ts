/**
 * `deno task bench:slow-consumer`: measures what one client that never reads costs
 * everyone else. Runs the same broadcast workload against a fresh server twice,
 * without and with a stalled client, and compares delivery throughput and the
 * server's peak memory. The goal: within 20%, and memory bounded by --max-queue-bytes.
 */
import { Command } from "@commander-js/extra-typings";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { ChatConnection } from "../client/chat_connection.ts";
import { parsePositiveInteger } from "../cli/option_parsers.ts";
import { configureProgram, runProgram } from "../cli/run_program.ts";

const SERVER = new URL("../../server.ts", import.meta.url).pathname;

/** Broadcasts the publisher may have in flight. */
const WINDOW = 64;

interface Result {
  stalled: boolean;
  deliveries: number;
  seconds: number;
  perSecond: number;
  serverPeakRssMiB: number;
}

async function run(
  clients: number,
  messages: number,
  size: number,
  stalled: boolean,
): Promise<Result> {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      SERVER,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--quiet",
      "--rate-limit",
      "0",
    ],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let port = 0;
  for (let text = ""; port === 0;) {
    const { value, done } = await lines.read();
    if (done) throw new Error("the server exited before listening");
    text += value;
    const match = /listening on [^\s]*:(\d+)/.exec(text);
    if (match) port = Number(match[1]);
  }
  // Keep reading the server's output so it never blocks on a full pipe.
  const drainOutput = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();

  const stall = stalled ? await Deno.connect({ hostname: "127.0.0.1", port }) : undefined;
  const expected = clients * messages;
  let received = 0;
  let publisherReceived = 0;
  let progress = Promise.withResolvers<void>();
  const lost = Promise.withResolvers<never>();
  const nextProgress = async () => {
    await Promise.race([progress.promise, lost.promise]);
    progress = Promise.withResolvers<void>();
  };
  const connections = await Promise.all(Array.from({ length: clients }, async (_, index) => {
    const connection = await ChatConnection.open("127.0.0.1", port);
    connection.run((message) => {
      if (message.body.case !== "chat") return;
      received++;
      if (index === 0) publisherReceived++;
      progress.resolve();
    }).then((reason) => lost.reject(new Error(`a receiving client was disconnected: ${reason}`)));
    return connection;
  }));

  const content = "x".repeat(size);
  const publisher = connections[0];
  const start = performance.now();
  // The publisher keeps at most WINDOW of its broadcasts in flight (its own copies
  // tell it what has gone round), so the receivers' queues stay small.
  for (let seq = 1; seq <= messages; seq++) {
    while (seq - publisherReceived > WINDOW) await nextProgress();
    publisher.send({
      body: { case: "chat", value: { content, action: Action.BROADCAST, clientSeq: BigInt(seq) } },
    });
  }
  while (received < expected) await nextProgress();
  const seconds = (performance.now() - start) / 1000;

  const status = await Deno.readTextFile(`/proc/${server.pid}/status`);
  const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  // From here on, disconnects are ours.
  lost.promise.catch(() => {});
  await Promise.all(connections.map((connection) => connection.close()));
  stall?.close();
  server.kill("SIGINT");
  await server.status;
  await drainOutput;
  return {
    stalled,
    deliveries: expected,
    seconds,
    perSecond: expected / seconds,
    serverPeakRssMiB: peakKiB / 1024,
  };
}

const program = configureProgram(new Command())
  .name("bench:slow-consumer")
  .option("--clients <count>", "receiving clients", parsePositiveInteger, 50)
  .option("--messages <count>", "broadcasts", parsePositiveInteger, 10000)
  .option("--size <bytes>", "content size", parsePositiveInteger, 1000)
  .option(
    "--runs <count>",
    "runs of each scenario; the median is reported",
    parsePositiveInteger,
    3,
  );
await runProgram(() => program.parseAsync(Deno.args, { from: "user" }));
const { clients, messages, size, runs } = program.opts();

const median = (values: number[]) =>
  values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const results: Record<string, Result[]> = { without: [], with: [] };
for (let i = 0; i < runs; i++) {
  results.without.push(await run(clients, messages, size, false));
  results.with.push(await run(clients, messages, size, true));
}
const summary = Object.fromEntries(
  Object.entries(results).map(([name, list]) => [name, {
    deliveriesPerSecond: Math.round(median(list.map((r) => r.perSecond))),
    serverPeakRssMiB: Number(median(list.map((r) => r.serverPeakRssMiB)).toFixed(1)),
  }]),
);
const ratio = summary.with.deliveriesPerSecond / summary.without.deliveriesPerSecond;
console.log(`broadcast, ${clients} clients, ${messages} x ${size} bytes, median of ${runs}`);
console.log(
  `  without a stalled client: ${summary.without.deliveriesPerSecond} deliveries/s, peak RSS ${summary.without.serverPeakRssMiB} MiB`,
);
console.log(
  `  with a stalled client:    ${summary.with.deliveriesPerSecond} deliveries/s, peak RSS ${summary.with.serverPeakRssMiB} MiB`,
);
console.log(`  ratio: ${(ratio * 100).toFixed(1)}% (goal: at least 80%)`);
console.log(JSON.stringify({ clients, messages, size, runs, ...summary, ratio }));
