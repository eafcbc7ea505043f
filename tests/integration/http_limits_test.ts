import assert from "node:assert/strict";
import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import { WebSocketOpcode } from "../../lib/net/websocket_opcode.ts";
import { startWithHttp } from "../support/server_with_http.ts";
import { flood } from "../support/messages.ts";
import { TestClient } from "../support/test_client.ts";
import {
  getRequest,
  RawHttpConnection,
  scrapeMetrics,
  upgradeRequest,
} from "../support/raw_http.ts";
import { SERVER_SCRIPT } from "../support/server_process.ts";
import { encodeClientFrame } from "../support/websocket_client_frame.ts";
import type { ServerFrame } from "../support/websocket_server_frame_reader.ts";

/** Runs the server with only `descriptors` file descriptors: Deno needs a few dozen itself. */
function withDescriptors(descriptors: number): string[] {
  return [
    "prlimit",
    `--nofile=${descriptors}:${descriptors}`,
    Deno.execPath(),
    "run",
    "--allow-net",
    SERVER_SCRIPT,
  ];
}

/** Opens `count` connections that send nothing. */
async function silentConnections(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  return conns;
}

const isClose = (frame: ServerFrame) => frame.opcode === WebSocketOpcode.close;
const closeCode = (frame: ServerFrame) => (frame.payload[0] << 8) | frame.payload[1];

/** The chat error frames among `frames`. */
function errors(frames: ServerFrame[]) {
  return frames.filter((frame) => frame.opcode === WebSocketOpcode.binary)
    .map((frame) => decodeServerMessage(frame.payload).body)
    .flatMap((body) => body.case === "error" ? [body.value] : []);
}

Deno.test("http - out of file descriptors, the HTTP accept loop warns, rests and recovers", async () => {
  const { server, httpPort } = await startWithHttp([], withDescriptors(60));
  await using _server = server;
  const hogs = await silentConnections(httpPort, 80);
  await server.stdout.waitFor(/WARN accept failed: Too many open files.*\(http port/);
  for (const hog of hogs) hog.close();
  using probe = await RawHttpConnection.open(httpPort);
  await probe.write(getRequest("/healthz", httpPort));
  const { head, body } = await probe.response(10_000);
  assert.equal(head.status, 200);
  assert.equal(body, "ok\n");
  assert.doesNotMatch(server.stdout.text, /ERROR/);
});

Deno.test("http - chat connections that take every descriptor leave /healthz working once they go", async () => {
  const { server, httpPort } = await startWithHttp([], withDescriptors(60));
  await using _server = server;
  const hogs = await silentConnections(server.port, 80);
  await server.stdout.waitFor(/WARN accept failed: Too many open files/);
  const from = server.stdout.lines.length;
  // Waits in the HTTP listener's queue: its accept fails too, until the hogs go.
  using probe = await RawHttpConnection.open(httpPort);
  await probe.write(getRequest("/healthz", httpPort));
  await server.stdout.waitFor(
    /Too many open files.*\(http port|ERROR .*Too many open files/,
    10_000,
    from,
  );
  for (const hog of hogs) hog.close();
  const { head, body } = await probe.response(10_000);
  assert.equal(head.status, 200);
  assert.equal(body, "ok\n");
});

Deno.test("http - a request head not finished within --http-header-timeout is closed", async () => {
  const { server, httpPort } = await startWithHttp(["--http-header-timeout", "0.5"]);
  await using _server = server;
  using slow = await RawHttpConnection.open(httpPort);
  const started = performance.now();
  await slow.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${httpPort}\r\n`);
  await slow.closed(5000);
  assert.ok(performance.now() - started >= 400, "closed before the header timeout");
});

Deno.test("http - a kept-alive connection waiting longer than --http-idle-timeout is closed", async () => {
  const { server, httpPort } = await startWithHttp(["--http-idle-timeout", "0.5"]);
  await using _server = server;
  using client = await RawHttpConnection.open(httpPort);
  await client.write(getRequest("/healthz", httpPort));
  assert.equal((await client.response()).head.status, 200);
  // Kept alive: a second request on the same connection is answered.
  await client.write(getRequest("/healthz", httpPort));
  const second = await client.response();
  assert.equal(second.head.status, 200);
  assert.equal(second.head.headers.get("connection"), undefined);
  await client.closed(5000);
});

Deno.test("http - --max-http-connections: one more gets 503, but loopback still reaches /healthz and /metrics", async () => {
  const { server, httpPort } = await startWithHttp(["--max-http-connections", "2"]);
  await using _server = server;
  const holders = await silentConnections(httpPort, 2);
  const busy = "The server is busy (2 HTTP connections); try again later\n";
  try {
    // Past the cap, a loopback connection is the operator's: /healthz and /metrics only.
    using page = await RawHttpConnection.open(httpPort);
    await page.write(getRequest("/", httpPort));
    const refused = await page.response();
    assert.equal(refused.head.status, 503);
    assert.equal(refused.body, busy);
    using health = await RawHttpConnection.open(httpPort);
    await health.write(getRequest("/healthz", httpPort));
    assert.equal((await health.response()).head.status, 200);
    const metrics = await scrapeMetrics(httpPort);
    // The two holders, the health probe kept alive, the scrape itself, and maybe the refused
    // page's connection, which the server keeps a moment to be sure its 503 is read.
    const open = metrics.get("chat_http_connections")!;
    assert.ok(open === 4 || open === 5, `chat_http_connections ${open}`);
    assert.equal(metrics.get("chat_http_connections_refused_total"), 1);
    // The headroom has 8 places: past them, a 503 before any request, and the connection closes.
    const more = await silentConnections(httpPort, 10);
    holders.push(...more.slice(0, -1));
    using last = RawHttpConnection.of(more.at(-1)!);
    assert.equal((await last.response()).body, busy);
    await last.closed(5000);
  } finally {
    for (const holder of holders) holder.close();
  }
});

Deno.test("http - the per-IP cap applies to HTTP connections too", async () => {
  const { server, httpPort } = await startWithHttp([
    "--max-connections-per-ip",
    "2",
    "--limit-loopback",
  ]);
  await using _server = server;
  const holders = await silentConnections(httpPort, 2);
  try {
    using page = await RawHttpConnection.open(httpPort);
    await page.write(getRequest("/", httpPort));
    const refused = await page.response();
    assert.equal(refused.head.status, 503);
    assert.equal(
      refused.body,
      "Too many connections from 127.0.0.1 (2); close some and try again\n",
    );
    // Loopback: the operator still looks.
    using health = await RawHttpConnection.open(httpPort);
    await health.write(getRequest("/healthz", httpPort));
    assert.equal((await health.response()).head.status, 200);
  } finally {
    for (const holder of holders) holder.close();
  }
});

Deno.test("http - request heads are bounded (431), bodies refused (413), HTTP/1.0 closed after its answer", async () => {
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  using big = await RawHttpConnection.open(httpPort);
  await big.write(getRequest("/", httpPort, [`X-Padding: ${"a".repeat(9000)}`]));
  assert.equal((await big.response()).head.status, 431);
  await big.closed(5000);
  using body = await RawHttpConnection.open(httpPort);
  await body.write(getRequest("/healthz", httpPort, ["Content-Length: 5"]) + "hello");
  assert.equal((await body.response()).head.status, 413);
  await body.closed(5000);
  // The page goes compressed to a client that takes gzip, as Deno.serve sent it.
  using page = await RawHttpConnection.open(httpPort);
  await page.write(getRequest("/", httpPort, ["Accept-Encoding: gzip, deflate"]));
  const compressed = await page.response();
  assert.equal(compressed.head.headers.get("content-encoding"), "gzip");
  assert.ok(Number(compressed.head.headers.get("content-length")) < 40_000);
  await page.write(getRequest("/", httpPort));
  const plain = await page.response();
  assert.equal(plain.head.headers.get("content-encoding"), undefined);
  assert.match(plain.body, /^<!doctype html>/i);
  using old = await RawHttpConnection.open(httpPort);
  await old.write("GET /healthz HTTP/1.0\r\n\r\n");
  const answer = await old.response();
  assert.equal(answer.head.status, 200);
  assert.equal(answer.head.headers.get("connection"), "close");
  await old.closed(5000);
});

Deno.test("websocket - a client that never answers the close handshake loses its socket within --close-handshake-timeout, counted until then", async () => {
  const { server, httpPort } = await startWithHttp([
    "--idle-timeout",
    "0.5",
    "--close-handshake-timeout",
    "3",
    "--max-connections",
    "1",
  ]);
  await using _server = server;
  using deaf = await RawHttpConnection.webSocket(httpPort);
  const frames = await deaf.frames(isClose);
  assert.equal(errors(frames)[0].code, ErrorCode.IDLE_TIMEOUT);
  await server.stdout.waitFor(/disconnected .* \(websocket\)/);
  // The session is over, but its socket is not: it still counts toward --max-connections.
  const metrics = await scrapeMetrics(httpPort);
  assert.equal(metrics.get('chat_sessions{transport="websocket"}'), 0);
  assert.equal(metrics.get("chat_connections"), 1);
  using another = await RawHttpConnection.open(httpPort);
  await another.write(upgradeRequest(httpPort));
  assert.equal((await another.response()).head.status, 503);
  // Then the socket goes, 3 s after the close frame.
  await deaf.closed(6000);
  assert.equal((await scrapeMetrics(httpPort)).get("chat_connections"), 0);
});

Deno.test("websocket - a message over --max-frame-bytes is refused by its announced length", async () => {
  const { server, httpPort } = await startWithHttp([
    "--max-frame-bytes",
    "1000",
    "--max-content-bytes",
    "10",
  ]);
  await using _server = server;
  using big = await RawHttpConnection.webSocket(httpPort);
  // The header of a 60 MB message, and none of its bytes.
  await big.write(
    encodeClientFrame({ opcode: WebSocketOpcode.binary, announcedLength: 60_000_000n }),
  );
  const frames = await big.frames(isClose, 3000);
  const [error] = errors(frames);
  assert.equal(error.code, ErrorCode.FRAME_TOO_LARGE);
  assert.equal(error.fatal, true);
  assert.equal(closeCode(frames.at(-1)!), 1009);
});

Deno.test("websocket - a connection whose input breaks RFC 6455 is closed at once, not after the close handshake's timeout", async () => {
  const { server, httpPort } = await startWithHttp(["--close-handshake-timeout", "60"]);
  await using _server = server;
  const breaches = [
    // Reserved bits no extension was agreed for; a close frame whose reason is not UTF-8.
    encodeClientFrame({ opcode: WebSocketOpcode.binary, reserved: 4, payload: [26, 0] }),
    encodeClientFrame({ opcode: WebSocketOpcode.close, payload: [0x03, 0xe8, 0xff] }),
  ];
  for (const breach of breaches) {
    using broken = await RawHttpConnection.webSocket(httpPort);
    await broken.write(breach);
    const frames = await broken.frames(isClose, 5000);
    assert.equal(closeCode(frames.at(-1)!), 1002);
    // Closed by the server without waiting for an answer to its close frame.
    await broken.closed(5000);
  }
});

Deno.test("websocket - a half-sent frame is cut by --frame-timeout, not --idle-timeout", async () => {
  const { server, httpPort } = await startWithHttp([
    "--frame-timeout",
    "0.5",
    "--idle-timeout",
    "60",
  ]);
  await using _server = server;
  using slow = await RawHttpConnection.webSocket(httpPort);
  const frame = encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: new Uint8Array(20) });
  await slow.write(frame.subarray(0, 10));
  const frames = await slow.frames(isClose, 5000);
  const [error] = errors(frames);
  assert.equal(error.code, ErrorCode.IDLE_TIMEOUT);
  assert.match(error.message, /^A frame was begun but not finished within 0\.5 s/);
  await server.stdout.waitFor(/disconnected .* \(websocket\) .*: frame timeout/);
});

Deno.test("websocket - a ping is answered with a pong carrying its payload", async () => {
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  using socket = await RawHttpConnection.webSocket(httpPort);
  await socket.write(encodeClientFrame({ opcode: WebSocketOpcode.ping, payload: [7, 8, 9] }));
  const [pong] = await socket.frames(() => true);
  assert.equal(pong.opcode, WebSocketOpcode.pong);
  assert.equal(pong.masked, false);
  assert.deepEqual([...pong.payload], [7, 8, 9]);
  // Pings that arrive while a pong waits get one pong, with the latest payload.
  const pings = [1, 2, 3].map((n) =>
    encodeClientFrame({ opcode: WebSocketOpcode.ping, payload: [n] })
  );
  await socket.write(new Uint8Array(pings.flatMap((frame) => [...frame])));
  const pongs = await socket.frames((frame) => frame.payload[0] === 3);
  // One write, so one read: all three are decoded before the pong's turn to be written comes.
  assert.deepEqual(pongs.map((frame) => [frame.opcode, ...frame.payload]), [[
    WebSocketOpcode.pong,
    3,
  ]]);
});

Deno.test("websocket - /ws refused with 503 counts in chat_connections_refused_total", async () => {
  const { server, httpPort } = await startWithHttp(["--max-connections", "1"]);
  await using _server = server;
  using _first = await RawHttpConnection.webSocket(httpPort);
  using second = await RawHttpConnection.open(httpPort);
  await second.write(upgradeRequest(httpPort));
  const refused = await second.response();
  assert.equal(refused.head.status, 503);
  assert.equal(refused.body, "The server is full (1 connection); try again later\n");
  assert.equal((await scrapeMetrics(httpPort)).get("chat_connections_refused_total"), 1);
});

Deno.test("websocket - a slow consumer's socket is closed, not only its session", async () => {
  const { server, httpPort } = await startWithHttp([
    "--write-timeout",
    "0.5",
    "--rate-limit",
    "0",
  ]);
  await using _server = server;
  // A WebSocket by hand that then never reads: the server's writes pile up and stall.
  using stuck = await RawHttpConnection.webSocket(httpPort);
  await using talker = await TestClient.connect(server.port);
  await talker.send(...flood(4000));
  await talker.take("chat", 4000, 30_000);
  await server.stdout.waitFor(/disconnected .* \(websocket\) .*: slow consumer/, 30_000);
  // The talker's alone: the stuck socket no longer counts.
  assert.equal((await scrapeMetrics(httpPort)).get("chat_connections"), 1);
  await stuck.closed(5000);
});
