/**
 * `deno task bench:bare`: the load tool's workloads on plain Deno sockets, with no chat
 * protocol, so docs/performance.md can say how much of a figure is Deno's and this machine's.
 *
 * - `echo`: the server writes back every byte it reads; N clients each keep W 32-byte
 *   messages in flight. Nothing is decoded: a floor for the chat server's echo.
 * - `accept`: the server accepts, writes 16 bytes and keeps a read pending, as a session
 *   does; clients connect 128 at a time and wait for the 16 bytes. A floor for accepts.
 * - `idle`: the server's RSS and JavaScript heap per accepted connection holding one
 *   pending 512-byte read and nothing else, after a forced GC. A floor for memory.
 * - `broadcast`: the server forwards whole 32-byte messages from any connection to every
 *   connection, one write in flight per connection; clients count what they receive and
 *   publishers keep W of their own in flight. A plain fan-out with nothing to decode,
 *   framed or checked; not a floor, since batching can beat it.
 *
 * The server runs in this process, the clients in a child process, as in the load tool.
 */
import { Command } from "commander";
import { cpuSecondsOf, ownCpuSeconds } from "./load/proc.ts";
import { loopbackAddress } from "./load/run_support.ts";

const MESSAGE_BYTES = 32;
const GREETING_BYTES = 16;
const CONNECTS_IN_FLIGHT = 128;

interface ClientReport {
  count: number;
  seconds: number;
}

/**
 * Starts this file again, with the same arguments, as the client side against `port`.
 * `report` resolves with the first line it prints.
 */
function startClients(port: number): { process: Deno.ChildProcess; report: Promise<ClientReport> } {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, ...Deno.args, "--port", `${port}`, "--client"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const report = (async () => {
    const lines = process.stdout.pipeThrough(new TextDecoderStream());
    let text = "";
    for await (const chunk of lines) {
      text += chunk;
      if (text.includes("\n")) break;
    }
    if (!text.includes("\n")) {
      throw new Error(`the client process failed (${await process.status})`);
    }
    return JSON.parse(text) as ClientReport;
  })();
  return { process, report };
}

/** Runs the clients against `serve` and prints the rate and both sides' CPU. */
async function measure(
  serve: (conn: Deno.TcpConn) => Promise<void>,
  workload: string,
  unit: string,
): Promise<void> {
  using listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  acceptAll(listener, serve);
  const cpuStart = ownCpuSeconds();
  const child = startClients(listener.addr.port);
  let clientCpu = 0;
  const sampler = setInterval(() => {
    const now = cpuSecondsOf(child.process.pid);
    if (!Number.isNaN(now)) clientCpu = now;
  }, 100);
  const report = await child.report;
  clearInterval(sampler);
  clientCpu = Math.max(clientCpu, cpuSecondsOf(child.process.pid) || 0);
  const serverCpu = ownCpuSeconds() - cpuStart;
  await child.process.status;
  console.log(
    `bare Deno ${workload}: ${Math.round(report.count / report.seconds)} ${unit}/s; ` +
      `CPU s: server ${serverCpu.toFixed(2)}, clients ${clientCpu.toFixed(2)}, ` +
      `in ${report.seconds.toFixed(2)} s`,
  );
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Serves every accepted connection with `serve` until the listener closes. */
function acceptAll(listener: Deno.TcpListener, serve: (conn: Deno.TcpConn) => Promise<void>) {
  return (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      serve(conn).catch(() => conn.close());
    }
  })().catch(() => {});
}

async function echoServer(conn: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const count = await conn.read(buffer);
    if (count === null) return conn.close();
    await writeAll(conn, buffer.subarray(0, count));
  }
}

async function echoClients(
  port: number,
  clients: number,
  window: number,
  durationSeconds: number,
): Promise<ClientReport> {
  const conns = await Promise.all(
    Array.from({ length: clients }, () => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  const message = new Uint8Array(MESSAGE_BYTES * window).fill(7);
  let replies = 0;
  let running = true;
  const start = performance.now();
  await Promise.all(conns.map(async (conn) => {
    conn.setNoDelay(true);
    const buffer = new Uint8Array(64 * 1024);
    let received = 0;
    let sent = window;
    await writeAll(conn, message);
    while (running || received < sent * MESSAGE_BYTES) {
      const count = await conn.read(buffer);
      if (count === null) throw new Error("the server closed a connection");
      const before = Math.floor(received / MESSAGE_BYTES);
      received += count;
      const completed = Math.floor(received / MESSAGE_BYTES) - before;
      replies += completed;
      if (running && completed > 0) {
        sent += completed;
        await writeAll(conn, message.subarray(0, completed * MESSAGE_BYTES));
      }
      running = performance.now() - start < durationSeconds * 1000;
    }
    conn.close();
  }));
  return { count: replies, seconds: (performance.now() - start) / 1000 };
}

/**
 * Forwards whole messages from any connection to every connection. Each connection has
 * one write in flight and gathers what arrives meanwhile into its next write.
 */
function fanOutServer(): (conn: Deno.TcpConn) => Promise<void> {
  const outboxes = new Set<{ pending: Uint8Array[]; writing: boolean; conn: Deno.TcpConn }>();
  const flush = async (outbox: { pending: Uint8Array[]; writing: boolean; conn: Deno.TcpConn }) => {
    outbox.writing = true;
    while (outbox.pending.length > 0) {
      const parts = outbox.pending;
      outbox.pending = [];
      await writeAll(outbox.conn, parts.length === 1 ? parts[0] : concat(parts));
    }
    outbox.writing = false;
  };
  return async (conn) => {
    const outbox = { pending: [] as Uint8Array[], writing: false, conn };
    outboxes.add(outbox);
    const buffer = new Uint8Array(64 * 1024);
    let carried = 0;
    try {
      while (true) {
        const count = await conn.read(buffer.subarray(carried));
        if (count === null) return conn.close();
        const whole = carried + count - (carried + count) % MESSAGE_BYTES;
        const chunk = buffer.slice(0, whole);
        buffer.copyWithin(0, whole, carried + count);
        carried = (carried + count) % MESSAGE_BYTES;
        for (const each of outboxes) {
          each.pending.push(chunk);
          if (!each.writing) flush(each).catch(() => outboxes.delete(each));
        }
      }
    } finally {
      outboxes.delete(outbox);
    }
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * N clients count every message they receive; the first P also publish, keeping W of
 * their own messages (first byte: their number) unacknowledged by their own copy.
 */
async function fanOutClients(
  port: number,
  clients: number,
  publishers: number,
  window: number,
  durationSeconds: number,
): Promise<ClientReport> {
  const conns: Deno.TcpConn[] = [];
  while (conns.length < clients) {
    conns.push(
      ...await Promise.all(
        Array.from(
          { length: Math.min(CONNECTS_IN_FLIGHT, clients - conns.length) },
          () => Deno.connect({ hostname: "127.0.0.1", port }),
        ),
      ),
    );
  }
  let deliveries = 0;
  let stopped = false;
  const start = performance.now();
  const readers = conns.map(async (conn, index) => {
    conn.setNoDelay(true);
    const id = index < publishers ? index + 1 : 0;
    const messages = new Uint8Array(MESSAGE_BYTES * window).fill(id);
    let sent = 0;
    let acked = 0;
    const pump = () => {
      const count = window - (sent - acked);
      sent += count;
      return writeAll(conn, messages.subarray(0, count * MESSAGE_BYTES));
    };
    if (id !== 0) await pump();
    const buffer = new Uint8Array(64 * 1024);
    let received = 0;
    while (true) {
      const count = await conn.read(buffer);
      if (count === null) throw new Error("the server closed a connection");
      // Each message's first byte names its publisher.
      for (
        let i = (MESSAGE_BYTES - received % MESSAGE_BYTES) % MESSAGE_BYTES;
        i < count;
        i += MESSAGE_BYTES
      ) {
        deliveries++;
        if (id !== 0 && buffer[i] === id) acked++;
      }
      received += count;
      if (id !== 0 && sent - acked < window) await pump();
    }
  }).map((reader) =>
    reader.catch((error) => {
      // Closing the connections at the end fails their reads: that is the end, not an error.
      if (!stopped) throw error;
    })
  );
  await Promise.race([
    Promise.all(readers),
    new Promise((resolve) => setTimeout(resolve, durationSeconds * 1000)),
  ]);
  const report = { count: deliveries, seconds: (performance.now() - start) / 1000 };
  stopped = true;
  for (const conn of conns) conn.close();
  await Promise.all(readers);
  return report;
}

async function greetingServer(conn: Deno.TcpConn): Promise<void> {
  await writeAll(conn, new Uint8Array(GREETING_BYTES));
  // An idle session keeps one read pending.
  while (await conn.read(new Uint8Array(512)) !== null) { /* nothing arrives */ }
  conn.close();
}

async function connectClients(port: number, connections: number): Promise<ClientReport> {
  const open: Deno.TcpConn[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONNECTS_IN_FLIGHT }, async () => {
    while (next < connections) {
      const hostname = loopbackAddress(next++);
      const conn = await Deno.connect({ hostname, port });
      const greeting = new Uint8Array(GREETING_BYTES);
      for (let filled = 0; filled < GREETING_BYTES;) {
        const count = await conn.read(greeting.subarray(filled));
        if (count === null) throw new Error("the server closed a connection");
        filled += count;
      }
      open.push(conn);
    }
  }));
  return { count: open.length, seconds: (performance.now() - start) / 1000 };
}

function memory(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    throw new Error("Run with --v8-flags=--expose-gc (deno task bench:bare does)");
  }
  gc();
  const { heapUsed, rss } = Deno.memoryUsage();
  return { heap: heapUsed, rss };
}

const program = new Command()
  .name("bench:bare")
  .description("The load tool's workloads on plain Deno sockets, with no chat protocol")
  .option("--port <port>", "(internal) the server port, for the client process", Number)
  .option("--client", "(internal) run the client side", false);

program.command("echo")
  .option("--clients <count>", "connections", Number, 50)
  .option("--window <count>", "messages in flight per connection", Number, 1)
  .option("--duration <seconds>", "how long to send", Number, 5)
  .action(async ({ clients, window, duration }) => {
    const { port, client } = program.opts();
    if (client) return print(await echoClients(port!, clients, window, duration));
    await measure(
      echoServer,
      `echo, ${clients} clients, window ${window}, ${MESSAGE_BYTES}-byte messages`,
      "replies",
    );
  });

program.command("broadcast")
  .option("--clients <count>", "connections, publishers among them", Number, 1000)
  .option("--publishers <count>", "connections that publish", Number, 5)
  .option("--window <count>", "own messages in flight per publisher", Number, 16)
  .option("--duration <seconds>", "how long to send", Number, 5)
  .action(async ({ clients, publishers, window, duration }) => {
    const { port, client } = program.opts();
    if (client) {
      return print(await fanOutClients(port!, clients, publishers, window, duration));
    }
    await measure(
      fanOutServer(),
      `fan-out, ${clients} clients, ${publishers} publishers, window ${window}, ` +
        `${MESSAGE_BYTES}-byte messages`,
      "deliveries",
    );
  });

program.command("accept")
  .option("--connections <count>", "connections to open", Number, 8000)
  .action(async ({ connections }) => {
    const { port, client } = program.opts();
    if (client) return print(await connectClients(port!, connections));
    await measure(
      greetingServer,
      `accept, ${connections} connections, ${CONNECTS_IN_FLIGHT} connecting at once`,
      "accepted",
    );
  });

program.command("idle")
  .option("--connections <count>", "connections to open", Number, 8000)
  .action(async ({ connections }) => {
    const { port, client } = program.opts();
    if (client) {
      const report = await connectClients(port!, connections);
      print(report);
      // Held while the server measures them; it ends this process, or a minute does.
      return void await new Promise((resolve) => setTimeout(resolve, 60_000));
    }
    using listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    acceptAll(listener, greetingServer);
    const before = memory();
    const child = startClients(listener.addr.port);
    const report = await child.report;
    // Every accepted connection's read is pending once the server has seen them all.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = memory();
    child.process.kill();
    await child.process.status;
    const per = (bytes: number) => Math.round(bytes / report.count);
    console.log(
      `bare Deno, ${report.count} accepted connections, each with one pending 512-byte read: ` +
        `${per(after.rss - before.rss)} B of RSS and ` +
        `${per(after.heap - before.heap)} B of JavaScript heap per connection`,
    );
  });

function print(report: ClientReport): void {
  console.log(JSON.stringify(report));
}

await program.parseAsync(Deno.args, { from: "user" });
Deno.exit(0);
