import assert from "node:assert/strict";
import { encodeClientMessage } from "../../lib/protocol/codec.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { deadline } from "../support/deadline.ts";
import { SERVER_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { freePort } from "../support/client_process.ts";
import { RawHttpConnection } from "../support/raw_http.ts";
import { encodeClientFrame } from "../support/websocket_client_frame.ts";
import { WebSocketOpcode } from "../../lib/net/websocket_opcode.ts";
import { MAX_FRAGMENTS } from "../../lib/net/websocket_frame_decoder.ts";

/**
 * Connections in the test: twice this in open files, well inside the limit. The figure
 * includes a fixed cost of some 8 MiB (the JS heap grows with the traffic), which many
 * connections spread thin: 24 KB each at 200 connections, 11 KB at 800.
 */
const CONNECTIONS = 800;
/** What one idle connection may hold on the server for what it sent before going idle. */
const MAX_BYTES_PER_IDLE_CONNECTION = 40 * 1024;

/**
 * The server's resident memory, from /proc (the test runs on Linux), after a full garbage
 * collection asked for through its inspector: what the server holds, not what it has yet
 * to collect, which would be as much again as what is measured.
 */
async function residentBytes(server: ServerProcess, inspector: string): Promise<number> {
  await collectGarbage(inspector);
  const status = await Deno.readTextFile(`/proc/${server.process.pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** HeapProfiler.collectGarbage over the DevTools protocol, at `url` (ws://...). */
async function collectGarbage(url: string): Promise<void> {
  const socket = new WebSocket(url);
  try {
    await deadline(
      new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = () => reject(new Error("cannot connect to the server's inspector"));
      }),
      10_000,
      "the server's inspector",
    );
    const answered = new Promise((resolve) => {
      socket.onmessage = (event) => {
        if (JSON.parse(event.data).id === 1) resolve(undefined);
      };
    });
    socket.send(JSON.stringify({ id: 1, method: "HeapProfiler.collectGarbage" }));
    await deadline(answered, 30_000, "a garbage collection in the server");
  } finally {
    socket.close();
  }
}

/**
 * ClientMessage{ping: Ping{nonce, field 15: `unknownBytes` bytes}}: a Ping with a big field
 * this server does not know, which protobuf-es would keep as an unknown field if asked to.
 */
function pingWithUnknownField(nonce: bigint, unknownBytes: number): Uint8Array {
  const ping = encodeClientMessage({ body: { case: "ping", value: { nonce } } });
  // The Ping inside starts after ClientMessage's tag (0x1a) and length (one byte here).
  const inner = ping.subarray(2);
  const unknown = [0x7a, ...varintBytes(unknownBytes)]; // field 15, length-delimited
  const pingBody = new Uint8Array(inner.length + unknown.length + unknownBytes);
  pingBody.set(inner);
  pingBody.set(unknown, inner.length);
  pingBody.fill(0x55, inner.length + unknown.length);
  return new Uint8Array([0x1a, ...varintBytes(pingBody.length), ...pingBody]);
}

function varintBytes(value: number): number[] {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return bytes;
}

/**
 * The real server, ready for residentBytes(): with an inspector, and with glibc's freed
 * blocks given back. No JOINED for everyone at each connect: N² frames of garbage, which
 * would blur the figure.
 */
async function startMeasured(
  args: string[],
): Promise<{ server: ServerProcess; inspector: string } & AsyncDisposable> {
  const server = await ServerProcess.start([...args, "--presence-limit", "1"], [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env=CHAT_POISON_BUFFERS",
    "--inspect=127.0.0.1:0",
    SERVER_SCRIPT,
  ], {
    // glibc keeps freed blocks under 128 KB for reuse rather than give them back: the
    // connections' garbage of 64 KB buffers would count as held after a collection.
    // Mapped on their own, they leave the RSS when freed, and it measures what is held.
    env: { MALLOC_MMAP_THRESHOLD_: "8192" },
  });
  const inspector = (await server.stderr.waitFor(/Debugger listening on ws:/, 10_000))
    .match(/ws:\/\/\S+/)![0];
  return { server, inspector, [Symbol.asyncDispose]: () => server[Symbol.asyncDispose]() };
}

/** Waits until every client has its Pong for `nonce`: what each sent before it is handled. */
function pongs(clients: TestClient[], nonce: bigint, what: string): Promise<unknown> {
  return deadline(
    Promise.all(
      clients.map((client) =>
        client.nextMatching((m) => m.body.case === "pong" && m.body.value.nonce === nonce)
      ),
    ),
    60_000,
    what,
  );
}

// The bound is on what a connection's input adds: the RSS of the connections, connected and
// answered once, is the baseline. Before the fix each kept ~130 KB more: its last read's
// 64 KB buffer (a pending read holds its buffer) and its 65,000-character Hello.client.
Deno.test(`idle memory - ${CONNECTIONS} connections that each sent a 65 KB Ping with an unknown field and a 65,000-byte Hello.client, then went idle, hold under ${MAX_BYTES_PER_IDLE_CONNECTION / 1024} KB more each`, async () => {
  await using measured = await startMeasured([
    "--max-connections-per-ip",
    String(CONNECTIONS + 10),
    "--max-connections",
    String(CONNECTIONS + 10),
  ]);
  const { server, inspector } = measured;
  await using stack = new AsyncDisposableStack();
  const clients: TestClient[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    clients.push(stack.use(await TestClient.connect(server.port)));
  }
  const ping = (nonce: bigint) =>
    encodeFrames([encodeClientMessage({ body: { case: "ping", value: { nonce } } })]);
  await Promise.all(clients.map((client) => client.sendRaw(ping(1n))));
  await pongs(clients, 1n, "every connection's first Pong");
  const before = await residentBytes(server, inspector);

  const bigPing = encodeFrames([pingWithUnknownField(2n, 65_000)]);
  const bigHello = encodeFrames([
    encodeClientMessage({ body: { case: "hello", value: { client: "c".repeat(65_000) } } }),
  ]);
  for (const client of clients) {
    await client.sendRaw(bigPing);
    await client.sendRaw(bigHello);
    await client.sendRaw(ping(3n));
  }
  // Frames are handled in order: the last Pong means the Hello before it was handled.
  await pongs(clients, 3n, "every connection's last Pong");
  const after = await residentBytes(server, inspector);
  const perConnection = (after - before) / CONNECTIONS;
  console.log(
    `RSS ${(before / 2 ** 20).toFixed(1)} MiB -> ${(after / 2 ** 20).toFixed(1)} MiB: ` +
      `${(perConnection / 1024).toFixed(1)} KB more per idle connection`,
  );
  assert.ok(
    perConnection < MAX_BYTES_PER_IDLE_CONNECTION,
    `${(perConnection / 1024).toFixed(1)} KB more per idle connection, over ${
      MAX_BYTES_PER_IDLE_CONNECTION / 1024
    } KB`,
  );
});

/** WebSockets in the fragments test, and what each may hold for the message it began. */
const FRAGMENTED_SOCKETS = 200;
const MAX_BYTES_PER_FRAGMENTED_SOCKET = 128 * 1024;
// After the first, as many as one message may have (MAX_FRAGMENTS).
const ONE_BYTE_FRAGMENTS = MAX_FRAGMENTS - 1;

// Before the fix each fragment was an object of its own: the attack measured 29 MB for 65,535
// of them, before their number was bounded too.
Deno.test(`idle memory - ${FRAGMENTED_SOCKETS} WebSockets that each began a message of ${ONE_BYTE_FRAGMENTS} one-byte fragments hold under ${MAX_BYTES_PER_FRAGMENTED_SOCKET / 1024} KB more each`, async () => {
  const httpPort = freePort();
  await using measured = await startMeasured(["--http-port", String(httpPort)]);
  const { server, inspector } = measured;
  await server.stdout.waitFor(`open http://127.0.0.1:${httpPort} in a browser`);
  using stack = new DisposableStack();
  const sockets: RawHttpConnection[] = [];
  for (let i = 0; i < FRAGMENTED_SOCKETS; i++) {
    sockets.push(stack.use(await RawHttpConnection.webSocket(httpPort)));
  }
  const before = await residentBytes(server, inspector);

  const start = encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [1], final: false });
  const fragment = encodeClientFrame({
    opcode: WebSocketOpcode.continuation,
    payload: [1],
    final: false,
  });
  const pingFrame = encodeClientFrame({ opcode: WebSocketOpcode.ping, payload: [7] });
  const message = new Uint8Array(start.length + ONE_BYTE_FRAGMENTS * fragment.length);
  message.set(start);
  for (let i = 0; i < ONE_BYTE_FRAGMENTS; i++) {
    message.set(fragment, start.length + i * fragment.length);
  }
  for (const socket of sockets) {
    await socket.write(message);
    await socket.write(pingFrame);
  }
  // Frames are decoded in order: the pong means every fragment before it was taken.
  for (const socket of sockets) {
    await socket.frames((frame) => frame.opcode === WebSocketOpcode.pong, 60_000);
  }
  const after = await residentBytes(server, inspector);
  const perSocket = (after - before) / FRAGMENTED_SOCKETS;
  console.log(
    `RSS ${(before / 2 ** 20).toFixed(1)} MiB -> ${(after / 2 ** 20).toFixed(1)} MiB: ` +
      `${(perSocket / 1024).toFixed(1)} KB more per WebSocket`,
  );
  assert.ok(
    perSocket < MAX_BYTES_PER_FRAGMENTED_SOCKET,
    `${(perSocket / 1024).toFixed(1)} KB more per WebSocket, over ${
      MAX_BYTES_PER_FRAGMENTED_SOCKET / 1024
    } KB`,
  );
});
