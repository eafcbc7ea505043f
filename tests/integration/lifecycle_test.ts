import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { flood } from "../support/messages.ts";
import { freePort } from "../support/client_process.ts";
import { WebSocketTestClient } from "../support/websocket_test_client.ts";

Deno.test("lifecycle - each connect and disconnect is logged with its transport and the pool size", async () => {
  const httpPort = freePort();
  await using server = await ServerProcess.start(["--http-port", String(httpPort)]);
  const alice = await TestClient.connect(server.port);
  await server.stdout.waitFor(`(tcp) as guest-${alice.sessionId} (sessions 0->1)`);
  const bob = await WebSocketTestClient.connect(httpPort);
  await server.stdout.waitFor(
    new RegExp(
      `connected 127\\.0\\.0\\.1:\\d+ \\(websocket\\) as guest-${bob.sessionId} \\(sessions 1->2\\)`,
    ),
  );
  await alice[Symbol.asyncDispose]();
  await server.stdout.waitFor(
    new RegExp(
      `disconnected 127\\.0\\.0\\.1:\\d+ \\(tcp\\) guest-${alice.sessionId}: closed by client \\(sessions 2->1\\)`,
    ),
  );
  await bob[Symbol.asyncDispose]();
  await server.stdout.waitFor(/\(websocket\) guest-\d+: .*\(sessions 1->0\)/);
});

Deno.test("lifecycle - --log-format json writes one JSON object per line; --quiet drops connection lines", async () => {
  await using json = await ServerProcess.start(["--log-format", "json"]);
  await (await TestClient.connect(json.port))[Symbol.asyncDispose]();
  const line = await json.stdout.waitFor(/"event":"disconnect"/);
  const entry = JSON.parse(line);
  assert.equal(entry.level, "info");
  assert.equal(entry.sessions, 0);
  assert.match(entry.peer, /^127\.0\.0\.1:\d+$/);
  assert.equal(entry.transport, "tcp");
  assert.ok(json.stdout.lines.every((l) => l === "" || JSON.parse(l)));

  const quiet = await ServerProcess.start(["--quiet"]);
  await using client = await TestClient.connect(quiet.port);
  await client.send({ body: { case: "ping", value: { nonce: 1n } } });
  await client.next("pong");
  // All output is in once the server has exited.
  assert.equal((await quiet.stop()).code, 0);
  assert.ok(!quiet.stdout.text.includes("connected"));
  assert.match(quiet.stdout.text, /listening on/);
});

Deno.test("lifecycle - SIGINT: stop accepting, SHUTTING_DOWN after everything queued, exit 0", async () => {
  // The burst is far over the chat rate limit, which is not what this test is about.
  const server = await ServerProcess.start(["--rate-limit", "0"]);
  const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.port)));
  await clients[0].send(...flood(500, "m"));
  await clients[1].next("chat");
  const status = await server.stop("SIGINT");
  assert.equal(status.code, 0);
  for (const client of clients) {
    await client.closed;
    const last = client.received.at(-1)!;
    assert.equal(last.body.case, "error");
    assert.equal(last.body.value.code, ErrorCode.SHUTTING_DOWN);
    assert.equal(last.body.value.fatal, true);
    // Whatever was accepted before the signal arrived in full and in order, before the farewell.
    const seqs = client.received.flatMap((m) =>
      m.body.case === "chat" ? [Number(m.body.value.clientSeq)] : []
    );
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  }
  assert.match(server.stdout.text, /shutting down: 3 sessions/);
  assert.match(server.stdout.lines.at(-1)!, / stopped$/);
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
});

Deno.test("lifecycle - SIGTERM also shuts down gracefully", async () => {
  const server = await ServerProcess.start();
  await using client = await TestClient.connect(server.port);
  assert.equal((await server.stop("SIGTERM")).code, 0);
  assert.equal((await client.next("error")).code, ErrorCode.SHUTTING_DOWN);
  assert.match(server.stdout.text, / shutting down: 1 session$/m);
});

Deno.test("lifecycle - a client that never reads cannot hold the exit past --shutdown-timeout", async () => {
  const server = await ServerProcess.start(["--shutdown-timeout", "1", "--rate-limit", "0"]);
  // Never reads: its socket buffers fill and the server's writes to it stall.
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await using talker = await TestClient.connect(server.port);
  await talker.send(...flood(500));
  await talker.take("chat", 500, 30_000);
  const stopping = Date.now();
  const status = await server.stop("SIGINT", 15_000);
  assert.equal(status.code, 0);
  // The bound is the point of --shutdown-timeout: 1 s, with room for a slow machine,
  // well short of the 10 s default it would take if the option were ignored.
  assert.ok(Date.now() - stopping < 6000, `took ${Date.now() - stopping} ms`);
  stuck.close();
});

Deno.test("lifecycle - a client that never reads is cut as a slow consumer; the others go on", async () => {
  // Room for a reading client that lags behind the flood a little; none for one that never reads.
  await using server = await ServerProcess.start([
    "--max-queue-bytes",
    "2000000",
    "--rate-limit",
    "0",
  ]);
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await using talker = await TestClient.connect(server.port);
  await using listener = await TestClient.connect(server.port);
  await talker.send(...flood(4000));
  // More than the kernel's socket buffers can hold for the client that does not read.
  assert.equal((await listener.take("chat", 4000, 30_000)).length, 4000);
  await server.stdout.waitFor(/disconnected 127\.0\.0\.1:\d+ \(tcp\) guest-1: slow consumer/);
  await listener.seen((m) =>
    m.body.case === "presence" && m.body.value.kind === PresenceKind.LEFT &&
    m.body.value.sessionId === 1n
  );
  stuck.close();
});

Deno.test("lifecycle - twenty clients that never read do not stall the writes of the others", async () => {
  // More stuck clients than the server has write slots, and a write timeout far past this
  // test's deadline: the others are served only if a stuck write gives its slot up.
  await using server = await ServerProcess.start([
    "--max-queue-bytes",
    "2000000",
    "--write-timeout",
    "120",
    "--rate-limit",
    "0",
  ]);
  const stuck = await Promise.all(
    Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
  );
  await using talker = await TestClient.connect(server.port);
  await using listener = await TestClient.connect(server.port);
  await talker.send(...flood(2000));
  assert.equal((await listener.take("chat", 2000, 30_000)).length, 2000);
  for (const conn of stuck) conn.close();
});

Deno.test("lifecycle - a client that half-closes still gets its replies", async () => {
  await using server = await ServerProcess.start();
  await using client = await TestClient.connect(server.port);
  await client.send(
    { body: { case: "ping", value: { nonce: 5n } } },
    { body: { case: "chat", value: { content: "bye", action: Action.ECHO, clientSeq: 1n } } },
  );
  await client.conn.closeWrite();
  assert.equal((await client.next("pong")).nonce, 5n);
  assert.equal((await client.next("chat")).content, "bye");
  await client.closed;
});

Deno.test("lifecycle - --max-connections: one more gets SERVER_FULL and is closed", async () => {
  await using server = await ServerProcess.start(["--max-connections", "2"]);
  await using a = await TestClient.connect(server.port);
  await using b = await TestClient.connect(server.port);
  await using extra = await TestClient.connect(server.port, false);
  const error = await extra.next("error");
  assert.equal(error.code, ErrorCode.SERVER_FULL);
  assert.equal(error.fatal, true);
  await extra.closed;
  assert.equal(extra.received.length, 1);
  await a.send({ body: { case: "who", value: {} } });
  assert.equal((await a.next("who")).users.length, 2);
  await b[Symbol.asyncDispose]();
  await a.nextPresence(PresenceKind.LEFT);
  await using later = await TestClient.connect(server.port);
  assert.equal(later.welcome.online, 2);
});

Deno.test("lifecycle - a port in use is one plain line and exit code 1", async () => {
  await using first = await ServerProcess.start();
  const second = await ServerProcess.run(["--host", "127.0.0.1", "--port", String(first.port)]);
  assert.equal(second.code, 1);
  assert.equal(
    second.stderr,
    `Cannot listen on 127.0.0.1:${first.port} (TCP, for chat clients): address already in use. ` +
      "Another server is probably running; pick another port with --port\n",
  );
  assert.equal(second.stdout, "", "nothing logged: it never started");
});

Deno.test("lifecycle - bad option values are one line and exit code 2; --help and --version exit 0", async () => {
  for (
    const args of [["--port", "abc"], ["--port", "70000"], ["--max-frame-bytes", "0"], [
      "--log-format",
      "xml",
    ], [
      "--bogus",
    ]]
  ) {
    const result = await ServerProcess.run(args);
    assert.equal(result.code, 2, `for ${args.join(" ")}`);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.match(result.stderr, /^error: /);
  }
  const help = await ServerProcess.run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--max-connections <count>/);
  const version = await ServerProcess.run(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

Deno.test("lifecycle - connections reset before they are accepted do not stall the accept loop", async () => {
  await using server = await ServerProcess.start();
  // Python can set SO_LINGER to 0, which makes close() send a reset; Deno cannot.
  const resetStorm = [
    "import socket, struct, sys",
    "for _ in range(300):",
    "    s = socket.socket()",
    "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))",
    "    s.connect(('127.0.0.1', int(sys.argv[1])))",
    "    s.close()",
  ].join("\n");
  const storm = await new Deno.Command("python3", {
    args: ["-c", resetStorm, String(server.port)],
    stdin: "null",
  }).output();
  assert.ok(storm.success, new TextDecoder().decode(storm.stderr));
  // Each reset used to cost the accept loop a 100 ms rest: 30 s in all.
  await using client = await TestClient.connect(server.port);
  await client.send({ body: { case: "who", value: {} } });
  assert.equal((await client.next("who")).users.length, 1);
  assert.ok(!server.stdout.text.includes("accept failed"), server.stdout.text);
});
