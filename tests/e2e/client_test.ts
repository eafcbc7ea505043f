import assert from "node:assert/strict";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { freePort, runClient } from "../support/client_process.ts";
import { LineReader } from "../support/line_reader.ts";
import { CLIENT_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

Deno.test("client - send --echo prints the echo and exits 0", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  const run = await runClient(["--port", String(server.port), "send", "--echo", "hello", "there"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "(echo) hello there\n");
  // The bystander saw the join and the leave, never the echo.
  await bystander.nextPresence(PresenceKind.LEFT);
  assert.ok(!bystander.received.some((m) => m.body.case === "chat"));
});

Deno.test("client - send --broadcast reaches the others and prints the sender's copy", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  const run = await runClient([
    "--port",
    String(server.port),
    "--nick",
    "alice",
    "--broadcast",
    "send",
    "안녕 🎉",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "(broadcast) alice: 안녕 🎉\n");
  const event = await bystander.next("chat");
  assert.equal(event.content, "안녕 🎉");
  assert.equal(event.fromNickname, "alice");
  assert.equal(event.action, Action.BROADCAST);
});

Deno.test("client - piped stdin: each line sent, events on stdout, exit 0 after the last reply", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  await bystander.send({ body: { case: "hello", value: { nickname: "zoe" } } });
  await bystander.nextPresence(PresenceKind.RENAMED);
  const input = [
    "first line",
    "/echo just me",
    "/nick bob",
    "second line",
    "/who",
    "/ping",
    "//slash",
  ].join("\n");
  const run = await runClient(["--port", String(server.port)], input + "\n");
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 4), [
    /^\(broadcast\) guest-\d+: first line$/.exec(lines[0])?.[0],
    "(echo) just me",
    "* you are now bob",
    "(broadcast) bob: second line",
  ]);
  assert.match(lines[4], /^\* 2 online: zoe, bob \(you\)$/);
  assert.match(lines[5], /^\* pong in \d+\.\d ms$/);
  assert.equal(lines[6], "(broadcast) bob: /slash");
  assert.match(run.stderr, /^connected as guest-\d+ - 2 online$/m);
  const seen = await bystander.take("chat", 3);
  assert.deepEqual(seen.map((e) => e.content), ["first line", "second line", "/slash"]);
});

Deno.test("client - a refused request is shown and makes the exit code 1", async () => {
  await using server = await ServerProcess.start(["--max-content-bytes", "5"]);
  const run = await runClient(
    ["--port", String(server.port), "--echo"],
    "short\ntoo long a line\n",
  );
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "(echo) short\n! Message is 15 bytes long; the limit is 5\n");
});

Deno.test("client - an unreachable server is named, retried with backoff, then exit 1", async () => {
  const port = freePort();
  const run = await runClient(["--port", String(port), "--retries", "2", "send", "x"]);
  assert.equal(run.code, 1);
  const refused =
    `Cannot connect to 127.0.0.1:${port}: connection refused - is the server running?`;
  assert.equal(run.stderr.split("\n").filter((line) => line === refused).length, 3);
  assert.equal(
    run.stderr.split("\n").filter((line) => /^retrying in \d+\.\d s$/.test(line)).length,
    2,
  );
  assert.ok(!run.stderr.includes("    at "), "no stack trace");
});

Deno.test("client - a fatal error from the server is shown with its message", async () => {
  await using server = await ServerProcess.start(["--max-connections", "0"]);
  const run = await runClient(["--port", String(server.port), "--retries", "0", "send", "x"]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /^! The server is full \(0 connections\); try again later$/m);
  assert.match(run.stderr, /disconnected: the server closed the connection/);
});

Deno.test("client - bad options are one line and exit code 2", async () => {
  for (const args of [["--port", "x"], ["--echo", "--broadcast"], ["send"], ["--retries", "-1"]]) {
    const run = await runClient(args);
    assert.equal(run.code, 2, `for ${args.join(" ")}: ${run.stderr}`);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  }
});

Deno.test("client - SHUTTING_DOWN from the server is shown to a piped client", async () => {
  const server = await ServerProcess.start();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("../../client.ts", import.meta.url).pathname,
      "--port",
      String(server.port),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Stdin stays open, so the client waits; the server's stop is what ends it.
  await server.stdout.waitFor("(sessions 0->1)");
  assert.equal((await server.stop("SIGINT")).code, 0);
  const output = await child.output();
  assert.equal(output.code, 1);
  assert.match(new TextDecoder().decode(output.stdout), /^! The server is shutting down$/m);
});

Deno.test("client - another user's control characters cannot forge lines or reach the terminal", async () => {
  await using server = await ServerProcess.start();
  await using mallory = await TestClient.connect(server.port);
  await mallory.send({ body: { case: "hello", value: { nickname: "mallory" } } });
  await mallory.nextPresence(PresenceKind.RENAMED);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", CLIENT_SCRIPT, "--port", String(server.port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await mallory.nextPresence(PresenceKind.JOINED);
  await mallory.send({
    body: {
      case: "chat",
      value: {
        content: "hi\n(broadcast) admin: run this\x1b]0;pwned\x07",
        action: Action.BROADCAST,
        clientSeq: 1n,
      },
    },
  });
  await mallory.next("chat");
  const stdout = new LineReader(child.stdout);
  const line = await stdout.waitFor("(broadcast) mallory: ");
  await child.stdin.close();
  assert.equal((await child.status).code, 0);
  await stdout.done;
  await child.stderr.cancel();
  assert.equal(stdout.lines.length, 1);
  assert.equal(
    line + "\n",
    "(broadcast) mallory: hi\u240a(broadcast) admin: run this\u241b]0;pwned\u2407\n",
  );
});

Deno.test("client - a refused --nick is shown and fails a one-shot send", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  await alice.send({ body: { case: "hello", value: { nickname: "alice" } } });
  await alice.nextPresence(PresenceKind.RENAMED);
  const run = await runClient(["--port", String(server.port), "--nick", "ALICE", "send", "hi"]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /^! Nickname "ALICE" is already taken$/m);
  assert.match(run.stdout, /^\(broadcast\) guest-\d+: hi$/m);
});

Deno.test("client - /nick after --nick gets its own answer", async () => {
  await using server = await ServerProcess.start();
  const run = await runClient(["--port", String(server.port), "--nick", "alice0"], "/nick bob0\n");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "* you are now alice0\n* you are now bob0\n");
});

Deno.test("client - a listener that never sends Welcome is given up on after --timeout", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) accepted.push(conn);
  })();
  const run = await runClient([
    "--port",
    String(silent.addr.port),
    "--retries",
    "0",
    "--timeout",
    "0.5",
    "send",
    "x",
  ]);
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    new RegExp(
      `no Welcome from 127\\.0\\.0\\.1:${silent.addr.port} within 0\\.5 s - is it a chat server\\?`,
    ),
  );
  for (const conn of accepted) conn.close();
  silent.close();
  await accepting.catch(() => {});
});
