/**
 * `deno task bench:redis-transport`: compares two ways of carrying events between chat
 * server processes through Redis, to back the choice made in docs/scaling-out.md:
 *
 * 1. PUBLISH / SUBSCRIBE on one channel: fire and forget, nothing stored;
 * 2. Redis Streams: XADD (MAXLEN ~ 100000) and each reader looping XREAD BLOCK from
 *    the last id it saw, so a slow or reconnecting reader can catch up.
 *
 * For each, R reader connections (each standing for one server process) receive
 * what P publisher connections send, each publisher keeping at most W commands
 * unacknowledged. Every payload carries its send time, publisher and sequence
 * number, so readers measure end-to-end latency (one process, one clock) and count
 * lost and out-of-order messages. Runs are bounded by --timeout: a stuck run is
 * reported as lost messages rather than hanging.
 *
 * By default the bench starts a private redis-server on a free port and kills it
 * at the end; --redis points it at an existing server instead.
 */
import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import { Redis } from "ioredis";
import { Buffer } from "node:buffer";
import process from "node:process";
import { parsePositiveInteger, parseSeconds } from "../cli/option_parsers.ts";
import { configureProgram, runProgram } from "../cli/run_program.ts";
import { onStopSignal } from "../cli/shutdown_signals.ts";

/** Payload header: send time (float64), publisher id (uint32), sequence number (uint32). */
const HEADER_BYTES = 16;
const CHANNEL = "bench:redis-transport:channel";
const STREAM = "bench:redis-transport:stream";
const STARTUP_MS = 10_000;

function parsePayloadSize(value: string): number {
  const size = parsePositiveInteger(value);
  if (size < HEADER_BYTES) {
    throw new InvalidArgumentError(`Expected at least ${HEADER_BYTES} bytes (the header).`);
  }
  return size;
}

interface Workload {
  readers: number;
  publishers: number;
  messages: number;
  size: number;
  window: number;
  timeoutSeconds: number;
}

/** One receiving connection and what it has seen. */
class Reader {
  received = 0;
  outOfOrder = 0;
  disconnected = false;
  finishedAt = Infinity;
  stopping = false;
  readonly latencies: Float64Array;
  readonly finished = Promise.withResolvers<void>();
  /** Highest sequence number seen from each publisher. */
  readonly #highest: Int32Array;

  constructor(readonly connection: Redis, readonly expected: number, publishers: number) {
    this.latencies = new Float64Array(expected);
    this.#highest = new Int32Array(publishers).fill(-1);
    // Redis drops subscribers that fall too far behind (client-output-buffer-limit);
    // such a reader will never complete, so stop waiting for it.
    connection.on("close", () => {
      if (this.stopping || this.received >= expected) return;
      this.disconnected = true;
      this.finished.resolve();
    });
  }

  accept(payload: Buffer): void {
    const latency = performance.now() - payload.readDoubleLE(0);
    if (this.received < this.expected) this.latencies[this.received] = latency;
    this.received++;
    const publisher = payload.readUInt32LE(8);
    const seq = payload.readUInt32LE(12);
    if (seq <= this.#highest[publisher]) this.outOfOrder++;
    else this.#highest[publisher] = seq;
    if (this.received === this.expected) {
      this.finishedAt = performance.now();
      this.finished.resolve();
    }
  }
}

interface Transport {
  readonly name: string;
  /** Resolves once `reader` cannot miss anything published from then on. */
  listen(reader: Reader): Promise<void>;
  publish(connection: Redis, payload: Buffer): Promise<unknown>;
  /** Frees what a run left in Redis. */
  cleanUp(control: Redis): Promise<unknown>;
}

const pubSub: Transport = {
  name: "pubsub",
  async listen(reader) {
    reader.connection.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
      reader.accept(message);
    });
    await reader.connection.subscribe(CHANNEL);
  },
  publish: (connection, payload) => connection.publish(CHANNEL, payload),
  cleanUp: () => Promise.resolve(),
};

/** XREAD's reply, spelled out: inferring it from `lastId`'s own inference loops. */
type StreamReply = [key: Buffer, entries: [id: Buffer, fields: Buffer[]][]][] | null;

const streams: Transport = {
  name: "streams",
  listen(reader) {
    // The stream is empty before each run, so reading from 0-0 misses nothing.
    let lastId: Buffer | string = "0-0";
    (async () => {
      while (!reader.stopping && reader.received < reader.expected) {
        const reply: StreamReply = await reader.connection.xreadBuffer(
          "COUNT",
          1000,
          "BLOCK",
          1000,
          "STREAMS",
          STREAM,
          lastId,
        );
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            reader.accept(fields[1]);
          }
        }
      }
      // A lost connection is reported by the reader's close handler.
    })().catch(() => {});
    return Promise.resolve();
  },
  publish: (connection, payload) =>
    connection.xadd(STREAM, "MAXLEN", "~", 100_000, "*", "p", payload),
  cleanUp: (control) => control.del(STREAM),
};

interface Result {
  mechanism: string;
  published: number;
  publishedPerSecond: number;
  deliveries: number;
  deliveriesPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  lost: number;
  outOfOrder: number;
  disconnectedReaders: number;
  timedOut: boolean;
  seconds: number;
  benchCpuSeconds: number;
  redisCpuSeconds: number;
}

/** A connection that is not yet open: `connectAll` opens them. */
function connection(url: string, commandTimeout?: number): Redis {
  const connection = new Redis(url, {
    lazyConnect: true,
    // A reconnect would blur the figures: fail instead.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    commandTimeout,
  });
  // Failures reach us through rejected commands; without a listener ioredis would
  // also print each one.
  connection.on("error", () => {});
  return connection;
}

/** Opens every connection, waiting for all so that none is left connecting on failure. */
async function connectAll(connections: Redis[]): Promise<void> {
  const outcomes = await Promise.allSettled(connections.map(async (connection) => {
    let cause: Error | undefined;
    const record = (error: Error) => cause ??= error;
    connection.on("error", record);
    try {
      await connection.connect();
    } catch (error) {
      // Without retries ioredis rejects with "Connection is closed.", hiding why.
      throw cause ?? error;
    } finally {
      connection.off("error", record);
    }
  }));
  const failure = outcomes.find((outcome) => outcome.status === "rejected");
  if (failure) throw failure.reason;
}

async function redisCpuSeconds(control: Redis): Promise<number> {
  const info = await control.info("cpu");
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1]);
  return field("used_cpu_user") + field("used_cpu_sys");
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

async function publishAll(
  connection: Redis,
  transport: Transport,
  id: number,
  count: number,
  work: Workload,
  stopped: () => boolean,
): Promise<number> {
  const filler = Buffer.alloc(work.size, "x");
  // Replies on one connection come back in order, so waiting for the command sent
  // `window` commands ago keeps at most `window` unacknowledged.
  const inFlight: (Promise<unknown> | undefined)[] = new Array(work.window);
  let sent = 0;
  try {
    for (; sent < count && !stopped(); sent++) {
      const slot = sent % work.window;
      if (inFlight[slot]) await inFlight[slot];
      // ioredis may still hold the payload after publish() returns: one Buffer each.
      const payload = Buffer.from(filler);
      payload.writeDoubleLE(performance.now(), 0);
      payload.writeUInt32LE(id, 8);
      payload.writeUInt32LE(sent, 12);
      const reply = transport.publish(connection, payload);
      // Marked handled so a failure surfaces when awaited, not as an unhandled rejection.
      reply.catch(() => {});
      inFlight[slot] = reply;
    }
    await Promise.all(inFlight);
  } catch (error) {
    // After the timeout the connection is cut, failing what was still in flight.
    if (!stopped()) throw error;
  }
  return sent;
}

async function measure(url: string, transport: Transport, work: Workload): Promise<Result> {
  // Only the control connection gets a command timeout: a timer per command would
  // cost the publishers several percent of their CPU.
  const control = connection(url, 10_000);
  const readerConnections = Array.from({ length: work.readers }, () => connection(url));
  const publisherConnections = Array.from({ length: work.publishers }, () => connection(url));
  const all = [control, ...readerConnections, ...publisherConnections];
  const readers = readerConnections.map((c) => new Reader(c, work.messages, work.publishers));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await connectAll(all);
    await transport.cleanUp(control);
    await Promise.all(readers.map((reader) => transport.listen(reader)));

    let timedOut = false;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        // Cut the publishers off so a stuck server cannot hold them past the timeout.
        for (const connection of publisherConnections) connection.disconnect();
        resolve();
      }, work.timeoutSeconds * 1000);
    });
    const redisCpuBefore = await redisCpuSeconds(control);
    const cpuBefore = process.cpuUsage();
    const start = performance.now();

    let publishEnd = start;
    const publishing = Promise.all(publisherConnections.map((connection, id) => {
      const share = Math.floor(work.messages / work.publishers) +
        (id < work.messages % work.publishers ? 1 : 0);
      return publishAll(connection, transport, id, share, work, () => timedOut);
    })).then((counts) => {
      publishEnd = performance.now();
      return counts.reduce((a, b) => a + b, 0);
    });
    const allFinished = Promise.all(readers.map((reader) => reader.finished.promise));
    // A failing publisher ends the run at once instead of at the timeout.
    await Promise.race([allFinished, timeout, publishing.then(() => allFinished)]);
    const published = await publishing;
    const end = timedOut
      ? start + work.timeoutSeconds * 1000
      : Math.max(publishEnd, ...readers.map((r) => r.finishedAt).filter(Number.isFinite));
    const cpu = process.cpuUsage(cpuBefore);
    const redisCpu = (await redisCpuSeconds(control)) - redisCpuBefore;

    const deliveries = readers.reduce((sum, reader) => sum + reader.received, 0);
    const recorded = readers.map((r) => r.latencies.subarray(0, Math.min(r.received, r.expected)));
    const sorted = new Float64Array(recorded.reduce((sum, own) => sum + own.length, 0));
    let offset = 0;
    for (const own of recorded) {
      sorted.set(own, offset);
      offset += own.length;
    }
    sorted.sort();
    const seconds = (end - start) / 1000;
    return {
      mechanism: transport.name,
      published,
      publishedPerSecond: published / ((publishEnd - start) / 1000),
      deliveries,
      deliveriesPerSecond: deliveries / seconds,
      latencyMs: {
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted.length === 0 ? NaN : sorted[sorted.length - 1],
      },
      lost: readers.reduce(
        (sum, reader) => sum + Math.max(0, reader.expected - reader.received),
        0,
      ),
      outOfOrder: readers.reduce((sum, reader) => sum + reader.outOfOrder, 0),
      disconnectedReaders: readers.filter((reader) => reader.disconnected).length,
      timedOut,
      seconds,
      benchCpuSeconds: (cpu.user + cpu.system) / 1e6,
      redisCpuSeconds: redisCpu,
    };
  } finally {
    clearTimeout(timer);
    for (const reader of readers) reader.stopping = true;
    await transport.cleanUp(control).catch(() => {});
    for (const connection of all) connection.disconnect();
  }
}

/** A Redis server to talk to; disposing of it stops it if the bench started it. */
interface RedisServer extends AsyncDisposable {
  url: string;
  /** Where the server runs and that it competes with the bench, for the output's first line. */
  note: string;
}

async function answersPing(port: number): Promise<boolean> {
  try {
    using connection = await Deno.connect({ hostname: "127.0.0.1", port });
    await connection.write(new TextEncoder().encode("PING\r\n"));
    const reply = new Uint8Array(7);
    const count = await connection.read(reply);
    return new TextDecoder().decode(reply.subarray(0, count ?? 0)) === "+PONG\r\n";
  } catch {
    return false;
  }
}

async function startRedis(): Promise<RedisServer> {
  const port = (() => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return listener.addr.port;
  })();
  const child = new Deno.Command("redis-server", {
    args: ["--port", `${port}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  let exitCode: number | undefined;
  child.status.then((status) => exitCode = status.code);
  // Ctrl+C must not leave the server running.
  const signals = onStopSignal(() => {
    child.kill("SIGKILL");
    Deno.exit(130);
  });
  const stop = async () => {
    signals[Symbol.dispose]();
    if (exitCode === undefined) child.kill("SIGTERM");
    await child.status;
  };
  try {
    const deadline = performance.now() + STARTUP_MS;
    while (!(await answersPing(port))) {
      if (exitCode !== undefined) throw new Error(`redis-server exited with code ${exitCode}`);
      if (performance.now() > deadline) {
        throw new Error(`redis-server did not answer PING within ${STARTUP_MS / 1000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    note: `Redis (a private redis-server, pid ${child.pid}, port ${port}) and this bench ` +
      `share this machine (${navigator.hardwareConcurrency} CPUs), so they compete for it.`,
    [Symbol.asyncDispose]: stop,
  };
}

function table(results: Result[]): string {
  const rows = [
    [
      "mechanism",
      "published msg/s",
      "deliveries/s",
      "p50 ms",
      "p99 ms",
      "max ms",
      "lost",
      "out-of-order",
      "elapsed s",
      "bench CPU s",
      "redis CPU s",
    ],
    ...results.map((r) => [
      r.mechanism,
      Math.round(r.publishedPerSecond).toString(),
      Math.round(r.deliveriesPerSecond).toString(),
      r.latencyMs.p50.toFixed(2),
      r.latencyMs.p99.toFixed(2),
      r.latencyMs.max.toFixed(2),
      r.lost.toString(),
      r.outOfOrder.toString(),
      r.seconds.toFixed(2),
      r.benchCpuSeconds.toFixed(2),
      r.redisCpuSeconds.toFixed(2),
    ]),
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row.map((cell, column) => column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column]))
      .join("  ")
  ).join("\n");
}

const program = configureProgram(new Command())
  .name("bench:redis-transport")
  .description("Compares Redis PUBLISH/SUBSCRIBE with Redis Streams for carrying chat events.")
  .option("--redis <url>", "use this Redis server instead of starting one")
  .option(
    "--readers <count>",
    "reader connections (one per server process)",
    parsePositiveInteger,
    3,
  )
  .option("--publishers <count>", "publisher connections", parsePositiveInteger, 3)
  .option("--messages <count>", "messages in all, across publishers", parsePositiveInteger, 200_000)
  .option("--size <bytes>", "payload bytes", parsePayloadSize, 100)
  .option(
    "--window <count>",
    "unacknowledged commands each publisher may have",
    parsePositiveInteger,
    256,
  )
  .option("--timeout <seconds>", "limit for each mechanism's run", parseSeconds, 60)
  .option("--json", "print JSON instead of a table");
await runProgram(() => program.parseAsync(Deno.args, { from: "user" }));
const { redis, json, timeout: timeoutSeconds, ...sizes } = program.opts();
const work: Workload = { ...sizes, timeoutSeconds };

await using server: RedisServer = redis === undefined ? await startRedis() : {
  url: redis,
  note: `Redis at ${redis}: if it runs on this machine ` +
    `(${navigator.hardwareConcurrency} CPUs), it competes with this bench for it.`,
  [Symbol.asyncDispose]: async () => {},
};
const results: Result[] = [];
for (const transport of [pubSub, streams]) results.push(await measure(server.url, transport, work));

const note = `${server.note} All readers and publishers run on the bench's one ` +
  "JavaScript thread, so bench CPU s near or above elapsed s means the bench, not Redis, " +
  "was the bottleneck.";
if (json) {
  console.log(
    JSON.stringify({ note, redis: server.url, workload: work, results }, null, 2),
  );
} else {
  console.log(`Note: ${note}`);
  console.log(
    `${work.readers} readers, ${work.publishers} publishers, ${work.messages} messages x ` +
      `${work.size} bytes, window ${work.window}, timeout ${timeoutSeconds} s`,
  );
  console.log("");
  console.log(table(results));
  for (const r of results) {
    if (r.timedOut) {
      console.log(`${r.mechanism}: timed out; published ${r.published} of ${work.messages}`);
    }
    if (r.disconnectedReaders > 0) {
      console.log(`${r.mechanism}: Redis disconnected ${r.disconnectedReaders} reader(s)`);
    }
  }
}
