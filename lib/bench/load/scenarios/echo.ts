/**
 * `echo`: N clients, each keeping W Chat ECHO requests in flight; the server answers
 * each to its sender alone. Measures requests per second and round-trip latency, and
 * checks that every client gets its own requests back once each, in order.
 */
import { Action, ErrorCode } from "../../../../gen/chat/v1/chat_pb.ts";
import { ChatFrameEncoder } from "../chat_frames.ts";
import { ChatLoadClient } from "../chat_load_client.ts";
import { Body } from "../frame_reader.ts";
import { Pacer, waitUntil } from "../pacer.ts";
import { ownCpuSeconds } from "../proc.ts";
import { deliveryCells, deliveryFields, printReport, whole } from "../report.ts";
import { checkOpenFiles, DRAIN_MS, type Harness, SETUP_MS, share, Span } from "../run_support.ts";
import { readSendTime } from "../send_time.ts";
import { mergeTallies, Tally, type TallyJson } from "../tally.ts";
import { type CoordinatorLink, WorkerPool } from "../worker_protocol.ts";

export interface EchoOptions {
  clients: number;
  window: number;
  rate: number;
  size: number;
  duration: number;
}

interface Result {
  type: "result";
  sent: number;
  tally: TallyJson;
  publishSeconds: number;
  cpuSeconds: number;
}

const READ_BUFFER_BYTES = 16 * 1024;

export async function echoWorker(
  options: EchoOptions,
  hostname: string,
  port: number,
  link: CoordinatorLink,
): Promise<void> {
  const tally = new Tally();
  const clients = await Promise.all(Array.from({ length: options.clients }, async () => {
    const client = await ChatLoadClient.connect(hostname, port, READ_BUFFER_BYTES);
    await client.welcomed;
    client.ended.then((reason) => {
      if (reason !== "closed by the bench") tally.disconnected(reason);
    });
    return client;
  }));
  link.send({ type: "ready" });
  await link.expect("go");

  const cpuStart = ownCpuSeconds();
  const encoder = new ChatFrameEncoder(options.size, Action.ECHO);
  const pacer = new Pacer(options.window, options.rate);
  const sent = new Float64Array(options.clients);
  const acked = new Float64Array(options.clients);
  const pump = (index: number) => {
    while (pacer.may(sent[index], acked[index])) {
      encoder.write(clients[index].writer, ++sent[index]);
    }
  };
  clients.forEach((client, index) => {
    // Each client is its own only publisher: one last sequence number to check against.
    const last = new Float64Array(1);
    client.onFrame = (frame, nowMs) => {
      if (frame.body === Body.Error) tally.error(ErrorCode[frame.errorCode] ?? "unknown");
      if (frame.body !== Body.Chat || frame.action !== Action.ECHO) return;
      const sentMs = readSendTime(frame.bytes, frame.contentStart, frame.contentEnd);
      tally.accept(last, 0, frame.clientSeq, sentMs, nowMs);
      acked[index]++;
      pump(index);
    };
  });
  await pacer.run(options.duration, () => clients.forEach((_, index) => pump(index)));
  await waitUntil(
    () => acked.every((count, i) => count >= sent[i]),
    performance.now() + DRAIN_MS,
  );
  link.send(
    {
      type: "result",
      sent: sent.reduce((a, b) => a + b, 0),
      tally: tally.toJSON(),
      publishSeconds: pacer.publishSeconds,
      cpuSeconds: ownCpuSeconds() - cpuStart,
    } satisfies Result,
  );
  for (const client of clients) client.close();
}

export async function coordinateEcho(
  options: EchoOptions,
  { server, processes, json, setPool }: Harness,
): Promise<void> {
  const clients = (i: number) => share(options.clients, processes, i);
  checkOpenFiles(clients(0), processes);
  await using pool = new WorkerPool(Array.from({ length: processes }, (_, i) => [
    "echo",
    ...["--server", `${server.hostname}:${server.port}`, "--clients", `${clients(i)}`],
    ...["--window", `${options.window}`, "--rate", `${options.rate}`],
    ...["--size", `${options.size}`, "--duration", `${options.duration}`],
  ]));
  setPool(pool);
  await pool.expectAll("ready", SETUP_MS);
  const span = new Span(server);
  await pool.sendAll({ type: "go" });
  const results = await pool.expectAll<Result>(
    "result",
    options.duration * 1000 + DRAIN_MS + 30_000,
  );
  const costs = span.end(results.map((result) => result.cpuSeconds));

  const tally = mergeTallies(results.map((result) => result.tally));
  const sent = results.reduce((n, result) => n + result.sent, 0);
  const publishSeconds = Math.max(...results.map((result) => result.publishSeconds));
  const report = {
    scenario: "echo",
    server: server.label,
    ...options,
    processes,
    requestsSent: sent,
    replies: tally.received,
    publishSeconds,
    requestsPerSecond: tally.received / publishSeconds,
    ...deliveryFields(tally, sent, costs),
  };
  printReport(report, json, () => ({
    header: `echo: ${options.clients} clients, window ${options.window}, ` +
      `${options.rate > 0 ? `${options.rate} msg/s each, ` : ""}${options.size}-byte messages, ` +
      `${options.duration} s, ${processes} process(es), target: ${server.label}`,
    cells: [
      ["requests/s", whole(report.requestsPerSecond)],
      ...deliveryCells(report, costs),
    ],
    notes: { "disconnected": report.disconnects, "errors received": report.errors },
    costs,
  }));
}
