import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage } from "../../lib/protocol/codec.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { Body, FrameReader, type ServerFrame } from "../../lib/bench/load/frame_reader.ts";
import { Histogram } from "../../lib/bench/load/histogram.ts";
import { bottleneckWarning, REFEREE, toolCpu } from "../../lib/bench/load/cpu_usage.ts";
import { costFields, type Costs, printReport } from "../../lib/bench/load/report.ts";
import { command, type PushHandlers, PushReader } from "../../lib/bench/load/resp.ts";
import { readSendTime, SEND_TIME_BYTES, writeSendTime } from "../../lib/bench/load/send_time.ts";

const TOOL = new URL("../../lib/bench/load_tool.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function bench(...args: string[]): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TOOL, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

// deno-lint-ignore no-explicit-any
async function benchJson(...args: string[]): Promise<any> {
  const run = await bench(...args, "--json");
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

function assertOrdered(latency: { p50: number; p90: number; p99: number; max: number }): void {
  assert.ok(latency.p50 > 0, JSON.stringify(latency));
  assert.ok(latency.p50 <= latency.p90, JSON.stringify(latency));
  assert.ok(latency.p90 <= latency.p99, JSON.stringify(latency));
  assert.ok(latency.p99 <= latency.max, JSON.stringify(latency));
}

// deno-lint-ignore no-explicit-any
function assertCleanBroadcast(result: any): void {
  assert.ok(result.deliveries > 0, JSON.stringify(result));
  assert.equal(result.deliveries, result.expectedDeliveries);
  assert.equal(result.lost, 0);
  assert.equal(result.duplicates, 0);
  assert.equal(result.outOfOrder, 0);
  assert.deepEqual(result.disconnects, {});
  assertOrdered(result.latencyMs);
}

Deno.test("load tool - histogram percentiles are within 1% on known data", () => {
  const histogram = new Histogram();
  for (let micros = 1; micros <= 100_000; micros++) histogram.record(micros);
  for (const p of [0.5, 0.9, 0.99]) {
    const exact = p * 100_000;
    const error = Math.abs(histogram.percentile(p) - exact) / exact;
    assert.ok(error <= 0.01, `p${p * 100}: ${histogram.percentile(p)} vs ${exact}`);
  }
  assert.equal(histogram.max, 100_000);
  assert.equal(histogram.min, 1);
  assert.ok(Number.isNaN(new Histogram().percentile(0.5)));
});

Deno.test("load tool - merged histograms (also through JSON) equal one of all the data", () => {
  const whole = new Histogram();
  const parts = [new Histogram(), new Histogram(), new Histogram()];
  for (let i = 0; i < 30_000; i++) {
    const micros = 50 + (i * 7919) % 250_000;
    whole.record(micros);
    parts[i % 3].record(micros);
  }
  const merged = new Histogram();
  for (const part of parts) merged.merge(Histogram.fromJSON(JSON.parse(JSON.stringify(part))));
  merged.merge(Histogram.fromJSON(JSON.parse(JSON.stringify(new Histogram()))));
  assert.equal(merged.count, whole.count);
  assert.deepEqual(merged.toJSON(), whole.toJSON());
  for (const p of [0.5, 0.9, 0.99, 1]) assert.equal(merged.percentile(p), whole.percentile(p));
});

Deno.test("load tool - send time survives writing and reading", () => {
  const bytes = new Uint8Array(SEND_TIME_BYTES + 3);
  const ms = 1764121515551.123;
  writeSendTime(bytes, 2, ms);
  assert.equal(
    new TextDecoder().decode(bytes.subarray(2, 2 + SEND_TIME_BYTES)),
    "1764121515551.123",
  );
  assert.equal(readSendTime(bytes, 2, bytes.length), ms);
  assert.ok(Number.isNaN(readSendTime(new TextEncoder().encode("hello, world, again"), 0, 19)));
});

Deno.test("load tool - FrameReader reads encodeServerMessage frames split at every byte", () => {
  const content = new Uint8Array(40).fill(0x2e);
  writeSendTime(content, 0, 1764121515551.5);
  const stream = encodeFrames([
    encodeServerMessage({
      body: { case: "welcome", value: { sessionId: 7n, nickname: "guest-7", online: 3 } },
    }),
    encodeServerMessage({
      body: {
        case: "presence",
        value: { kind: PresenceKind.JOINED, sessionId: 8n, nickname: "guest-8" },
      },
    }),
    encodeServerMessage({
      body: {
        case: "chat",
        value: {
          action: Action.BROADCAST,
          content: new TextDecoder().decode(content),
          fromSessionId: 300n,
          fromNickname: "guest-300",
          clientSeq: 2n ** 40n,
          sentAtUnixMs: 1764121515551n,
        },
      },
    }),
    encodeServerMessage({
      body: {
        case: "chat",
        value: { action: Action.ECHO, content: "x".repeat(200), clientSeq: 5n },
      },
    }),
    encodeServerMessage({
      body: {
        case: "error",
        value: { code: ErrorCode.SLOW_CONSUMER, message: "too slow", fatal: true },
      },
    }),
  ]);
  type Seen = Omit<ServerFrame, "bytes" | "contentStart" | "contentEnd"> & { sentMs: number };
  const read = (pieces: Uint8Array[]): Seen[] => {
    const reader = new FrameReader(1 << 16);
    const seen: Seen[] = [];
    for (const piece of pieces) {
      // A read buffer longer than what was read, as a socket's is.
      const buffer = new Uint8Array(piece.length + 5).fill(0xff);
      buffer.set(piece);
      reader.push(buffer, piece.length, (frame) => {
        const { bytes, contentStart, contentEnd, ...fields } = frame;
        seen.push({ ...fields, sentMs: readSendTime(bytes, contentStart, contentEnd) });
      });
    }
    return seen;
  };
  const expected = read([stream]);
  assert.deepEqual(expected.map((frame) => frame.body), [Body.Welcome, 4, Body.Chat, Body.Chat, 6]);
  assert.equal(expected[0].sessionId, 7);
  assert.deepEqual(
    [expected[2].action, expected[2].fromSessionId, expected[2].clientSeq, expected[2].sentMs],
    [Action.BROADCAST, 300, 2 ** 40, 1764121515551.5],
  );
  assert.deepEqual([expected[3].action, expected[3].clientSeq], [Action.ECHO, 5]);
  assert.ok(Number.isNaN(expected[3].sentMs));
  assert.deepEqual([expected[4].errorCode, expected[4].fatal], [ErrorCode.SLOW_CONSUMER, true]);
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(read([stream.subarray(0, cut), stream.subarray(cut)]), expected, `cut ${cut}`);
  }
  const bytes = Array.from(stream, (byte) => Uint8Array.of(byte));
  assert.deepEqual(read(bytes), expected);
});

Deno.test("load tool - PushReader reads subscribe and message pushes split at every byte", () => {
  const payload = "1764121515551.123\x01\x00\x05\x00\x00\x00....";
  const text = "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n" +
    `*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$${payload.length}\r\n${payload}\r\n` +
    "-ERR refused\r\n";
  const stream = new TextEncoder().encode(text);
  const read = (pieces: Uint8Array[]) => {
    const events: string[] = [];
    const handlers: PushHandlers = {
      message: (bytes, start, end) =>
        events.push(`message ${new TextDecoder().decode(bytes.subarray(start, end))}`),
      subscribed: () => events.push("subscribed"),
      error: () => events.push("error"),
    };
    const reader = new PushReader(handlers);
    for (const piece of pieces) reader.push(piece, piece.length);
    return events;
  };
  const expected = ["subscribed", `message ${payload}`, "error"];
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(read([stream.subarray(0, cut), stream.subarray(cut)]), expected, `cut ${cut}`);
  }
  assert.deepEqual(read(Array.from(stream, (byte) => Uint8Array.of(byte))), expected);
  assert.equal(
    new TextDecoder().decode(command("SUBSCRIBE", "ch")),
    "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n",
  );
});

// deno-lint-ignore no-explicit-any
function assertToolCpu(result: any, processes: string[]): void {
  const percents = result.loadToolCpuPercent;
  assert.deepEqual(Object.keys(percents), processes);
  for (const value of Object.values(percents)) assert.ok(Number(value) >= 0, percents);
  assert.equal(result.loadToolCpuPercentMax, Math.max(...Object.values(percents).map(Number)));
  assert.equal(result.loadToolBottleneck, result.loadToolCpuPercentMax >= 90);
}

/** What `printReport` prints for people, with `console.log` caught. */
function printedTable(costs: Costs): string[] {
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    printReport({}, false, () => ({ header: "a run", cells: [["x", "1"]], notes: {}, costs }));
  } finally {
    console.log = log;
  }
  return lines;
}

Deno.test("load tool - a process at 90% of a CPU or more makes the tool the bottleneck", () => {
  const busy = toolCpu(0.1, [0.5, 0.95], 1);
  assert.deepEqual(busy.percentByProcess, { coordinator: 10, "worker 1": 50, "worker 2": 95 });
  assert.deepEqual([busy.maxPercent, busy.busiest, busy.bottleneck], [95, "worker 2", true]);
  assert.equal(
    bottleneckWarning(busy),
    "warning: the load tool used 95% of a CPU (worker 2): these figures are the load tool's " +
      `limit, not the server's; measure with ${REFEREE}`,
  );
  // The coordinator counts as much as a worker, and exactly 90% is already too busy.
  assert.equal(toolCpu(1.8, [0.2], 2).busiest, "coordinator");
  assert.equal(toolCpu(1.8, [0.2], 2).bottleneck, true);
  const idle = toolCpu(0.2, [0.89, 0.3], 1);
  assert.deepEqual([idle.maxPercent, idle.bottleneck], [89, false]);
  assert.equal(bottleneckWarning(idle), undefined);
  // 1.2 CPUs spread over two workers is no bottleneck: neither process was full.
  assert.equal(toolCpu(0, [0.6, 0.6], 1).bottleneck, false);
});

Deno.test("load tool - the table warns when the tool was the limit, and JSON says so", () => {
  const costs = (cpu: ReturnType<typeof toolCpu>): Costs => ({
    elapsedSeconds: 2,
    benchCpuSeconds: 2.1,
    serverCpuSeconds: 0.5,
    machineBusyPercent: 80,
    toolCpu: cpu,
  });
  const limited = costs(toolCpu(0.04, [1.96], 2));
  const lines = printedTable(limited);
  assert.equal(lines.at(-2), "load tool CPU %: coordinator: 2, worker 1: 98");
  assert.match(lines.at(-1)!, /^warning: the load tool used 98% of a CPU \(worker 1\)/);
  assert.ok(lines.at(-1)!.includes("../shared/bench/compare.sh"));
  const fields = costFields(limited);
  assert.equal(fields.loadToolBottleneck, true);
  assert.equal(fields.loadToolCpuPercentMax, 98);
  assert.equal(fields.serverCpuPercent, 25);

  const unlimited = costs(toolCpu(0.04, [1.2], 2));
  assert.ok(!printedTable(unlimited).some((line) => line.startsWith("warning")));
  assert.equal(costFields(unlimited).loadToolBottleneck, false);
  assert.equal(costFields({ ...unlimited, serverCpuSeconds: null }).serverCpuPercent, null);
});

Deno.test("load tool - broadcast: every delivery arrives once, in order", async () => {
  const result = await benchJson(
    "broadcast",
    "--clients",
    "20",
    "--publishers",
    "2",
    "--duration",
    "1",
  );
  assertCleanBroadcast(result);
  assert.equal(result.target, "chat");
  assert.ok(result.broadcastsSent > 0);
  assert.ok(result.benchCpuSeconds > 0 && result.serverCpuSeconds > 0);
});

Deno.test("load tool - broadcast over 2 worker processes", async () => {
  const result = await benchJson(
    "broadcast",
    ...["--clients", "20", "--publishers", "3", "--duration", "1", "--processes", "2"],
  );
  assertCleanBroadcast(result);
  assert.equal(result.processes, 2);
  assertToolCpu(result, ["coordinator", "worker 1", "worker 2"]);
  // It started the server, so it knows the server's pid and CPU.
  assert.ok(result.serverCpuPercent > 0, JSON.stringify(result));
});

Deno.test("load tool - the table gives each process's CPU, and warns only past 90%", async () => {
  const run = await bench("broadcast", "--clients", "20", "--publishers", "2", "--duration", "1");
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.includes("tool max CPU %  server CPU %"), run.stdout);
  const line = /^load tool CPU %: coordinator: (\d+), worker 1: (\d+)$/m.exec(run.stdout);
  assert.ok(line, run.stdout);
  const warning = /^warning: the load tool used (\d+)% of a CPU/m.exec(run.stdout);
  // Whole percents as printed: 90 may be 89.6, just short of the bottleneck.
  if (warning) assert.ok(Number(warning[1]) >= 90, run.stdout);
  else assert.ok(Number(line[1]) <= 90 && Number(line[2]) <= 90, run.stdout);
});

Deno.test("load tool - broadcast against Redis pub/sub", async () => {
  const result = await benchJson(
    "broadcast",
    ...["--target", "redis", "--clients", "10", "--publishers", "2", "--duration", "1"],
  );
  assertCleanBroadcast(result);
  assert.equal(result.target, "redis");
  assert.match(result.server, /redis-server/);
});

Deno.test("load tool - --target both runs the same workload on our server, then on Redis", async () => {
  const run = await bench(
    "broadcast",
    ...["--target", "both", "--clients", "10", "--publishers", "2", "--duration", "1", "--json"],
  );
  assert.equal(run.code, 0, run.stderr);
  const results = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(results.map((result) => result.target), ["chat", "redis"]);
  for (const result of results) assertCleanBroadcast(result);
});

Deno.test("load tool - echo: every request answered once, in order", async () => {
  const result = await benchJson("echo", "--clients", "5", "--window", "4", "--duration", "1");
  assert.ok(result.replies > 0);
  assert.equal(result.replies, result.requestsSent);
  assert.equal(result.lost, 0);
  assert.equal(result.duplicates, 0);
  assert.equal(result.outOfOrder, 0);
  assertOrdered(result.latencyMs);
  assertToolCpu(result, ["coordinator", "worker 1"]);
});

Deno.test("load tool - connections: all accepted, with the server's memory", async () => {
  const result = await benchJson("connections", "--connections", "200");
  assert.equal(result.accepted, 200);
  assert.equal(result.failed, 0);
  assert.deepEqual(result.failures, {});
  assert.ok(result.acceptedPerSecond > 0);
  assertOrdered(result.latencyMs);
  assert.ok(result.serverRssAfterKiB > 0 && result.serverRssBeforeKiB > 0);
});

Deno.test("load tool - a bad option exits 2 with a clear message", async () => {
  const small = await bench("broadcast", "--size", "3");
  assert.equal(small.code, 2);
  assert.match(small.stderr, /--size must be at least 17 bytes/);
  assert.equal(small.stdout, "");
  const unknown = await bench("broadcast", "--clients", "many");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--clients/);
});
