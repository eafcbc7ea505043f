import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { ChatClient, type ClientEvent } from "../../lib/client/chat_client.ts";
import { deadline } from "../support/deadline.ts";
import { SERVER_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { chat, flood } from "../support/messages.ts";

Deno.test("limits - a chat flood past the burst is not relayed: RATE_LIMITED with each client_seq", async () => {
  await using server = await ServerProcess.start(["--rate-limit", "1", "--rate-burst", "3"]);
  await using sender = await TestClient.connect(server.port);
  await using listener = await TestClient.connect(server.port);
  await sender.send(
    ...Array.from({ length: 10 }, (_, i) => chat(`m${i + 1}`, Action.BROADCAST, BigInt(i + 1))),
  );
  const limited = await sender.take("error", 7);
  assert.deepEqual(
    limited.map((e) => [e.code, e.clientSeq, e.fatal]),
    [4n, 5n, 6n, 7n, 8n, 9n, 10n].map((seq) => [
      ErrorCode.RATE_LIMITED,
      seq,
      false,
    ]),
  );
  const relayed = await listener.take("chat", 3);
  assert.deepEqual(relayed.map((e) => e.content), ["m1", "m2", "m3"]);
  // Pings and who are not chat: never limited.
  await sender.send({ body: { case: "ping", value: { nonce: 9n } } });
  assert.equal((await sender.next("pong")).nonce, 9n);
  assert.equal(listener.received.filter((m) => m.body.case === "chat").length, 3);
});

Deno.test("limits - --rate-limit 0 turns the limit off", async () => {
  await using server = await ServerProcess.start(["--rate-limit", "0"]);
  await using sender = await TestClient.connect(server.port);
  await sender.send(...flood(300, "y"));
  assert.equal((await sender.take("chat", 300)).length, 300);
  assert.ok(!sender.received.some((m) => m.body.case === "error"));
});

Deno.test("limits - a client that sends nothing for --idle-timeout gets IDLE_TIMEOUT; a pinging one stays", async () => {
  await using server = await ServerProcess.start(["--idle-timeout", "0.6"]);
  await using silent = await TestClient.connect(server.port);
  await using pinging = await TestClient.connect(server.port);
  let nonce = 0n;
  const pinger = setInterval(
    () => pinging.send({ body: { case: "ping", value: { nonce: ++nonce } } }),
    100,
  );
  try {
    const error = await silent.next("error");
    assert.equal(error.code, ErrorCode.IDLE_TIMEOUT);
    assert.equal(error.fatal, true);
    await silent.closed;
    await server.stdout.waitFor(`guest-${silent.sessionId}: idle timeout`);
    // The pinging client saw the silent one leave, and is still being answered.
    await pinging.seen((m) =>
      m.body.case === "presence" && m.body.value.kind === PresenceKind.LEFT
    );
    const last = nonce;
    await pinging.nextMatching((m) => m.body.case === "pong" && m.body.value.nonce > last);
    assert.ok(!pinging.received.some((m) => m.body.case === "error"));
  } finally {
    clearInterval(pinger);
  }
});

Deno.test("limits - a frame begun but not finished within --frame-timeout closes the connection", async () => {
  await using server = await ServerProcess.start(["--frame-timeout", "0.5"]);
  await using slowloris = await TestClient.connect(server.port);
  // A 100-byte frame announced, 2 bytes of it sent.
  await slowloris.sendRaw(new Uint8Array([100, 0x1a, 0x00]));
  const error = await slowloris.next("error");
  assert.equal(error.code, ErrorCode.IDLE_TIMEOUT);
  assert.match(error.message, /begun but not finished within 0\.5 s/);
  await slowloris.closed;
  await server.stdout.waitFor(`guest-${slowloris.sessionId}: frame timeout`);
});

Deno.test("limits - a write stalled past --write-timeout cuts the client as a slow consumer", async () => {
  await using server = await ServerProcess.start([
    "--write-timeout",
    "0.5",
    "--max-queue-bytes",
    "1000000000",
    "--rate-limit",
    "0",
    "--log-format",
    "json",
  ]);
  // Never reads: once the kernel's buffers are full, the server's write to it stalls.
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await using talker = await TestClient.connect(server.port);
  await talker.send(...flood(4000));
  await talker.take("chat", 4000, 30_000);
  await server.stdout.waitFor(/"reason":"slow consumer"/);
  assert.equal((await server.stats())["disconnects.slow_consumer"], 1);
  stuck.close();
});

Deno.test("limits - --max-connections-per-ip refuses one more from the same address", async () => {
  await using server = await ServerProcess.start([
    "--max-connections-per-ip",
    "2",
    "--limit-loopback",
  ]);
  await using a = await TestClient.connect(server.port);
  await using b = await TestClient.connect(server.port);
  await using extra = await TestClient.connect(server.port, false);
  const error = await extra.next("error");
  assert.equal(error.code, ErrorCode.SERVER_FULL);
  assert.equal(error.message, "Too many connections from 127.0.0.1 (2); close some and try again");
  await extra.closed;
  await a[Symbol.asyncDispose]();
  await b.nextPresence(PresenceKind.LEFT);
  await using again = await TestClient.connect(server.port);
  assert.equal(again.welcome.online, 2);
});

Deno.test("limits - loopback is exempt from the per-IP cap by default", async () => {
  await using server = await ServerProcess.start(["--max-connections-per-ip", "1"]);
  const clients = await Promise.all([1, 2, 3, 4].map(() => TestClient.connect(server.port)));
  assert.equal(clients[3].welcome.online, 4);
  await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
});

Deno.test("limits - the counters move: sessions, frames, bytes, errors by code", async () => {
  await using server = await ServerProcess.start(["--log-format", "json", "--quiet"]);
  const before = await server.stats();
  assert.equal(before.sessions, 0);
  await using client = await TestClient.connect(server.port);
  await client.sendRaw(new Uint8Array([3, 0x12, 0x09, 0x0a])); // MALFORMED
  await client.send({ body: { case: "ping", value: { nonce: 1n } } });
  await client.next("pong");
  const after = await server.stats();
  assert.equal(after.sessions, 1);
  assert.equal(after.sessions_opened, 1);
  assert.equal(after.frames_in, 2);
  assert.equal(after.frames_out, 3); // Welcome, the error, Pong
  assert.ok(after.bytes_in >= 4 && after.bytes_out > 0);
  assert.equal(after["errors_sent.MALFORMED"], 1);
  assert.ok(after.rss_bytes > 0);
});

Deno.test("limits - out of file descriptors, the accept loop warns, rests and recovers", async () => {
  // 60 descriptors: Deno needs a few dozen of its own, so accept soon runs out.
  const server = await ServerProcess.start([], [
    "prlimit",
    "--nofile=60:60",
    Deno.execPath(),
    "run",
    "--allow-net",
    SERVER_SCRIPT,
  ]);
  try {
    const hogs: Deno.TcpConn[] = [];
    for (let i = 0; i < 80; i++) {
      hogs.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    await server.stdout.waitFor(/WARN accept failed: Too many open files/);
    for (const hog of hogs) hog.close();
    await using client = await TestClient.connect(server.port);
    await client.send({ body: { case: "ping", value: { nonce: 2n } } });
    assert.equal((await client.next("pong")).nonce, 2n);
    assert.equal((await server.stop("SIGINT")).code, 0);
  } finally {
    await server[Symbol.asyncDispose]();
  }
});

Deno.test("limits - the client pings when idle, so --idle-timeout never cuts a reader", async () => {
  await using server = await ServerProcess.start(["--idle-timeout", "0.5"]);
  const events: ClientEvent[] = [];
  const pongs = Promise.withResolvers<void>();
  const client = new ChatClient({
    port: server.port,
    keepaliveMs: 150,
    onEvent(event) {
      events.push(event);
      const keepalivePongs = events.filter((e) =>
        e.type === "message" && e.message.body.case === "pong"
      );
      // 10 pongs at 150 ms: well past three idle timeouts.
      if (keepalivePongs.length >= 10) pongs.resolve();
    },
  });
  try {
    await deadline(pongs.promise, 15_000, "10 keepalive pongs");
    assert.ok(
      !events.some((e) => e.type === "disconnected"),
      JSON.stringify(events.map((e) => e.type)),
    );
  } finally {
    await client.close();
  }
});

Deno.test("limits - past --presence-limit, arrivals and departures are not announced; who lists everyone", async () => {
  await using server = await ServerProcess.start(["--presence-limit", "2"]);
  await using first = await TestClient.connect(server.port);
  await using second = await TestClient.connect(server.port);
  assert.equal((await first.nextPresence(PresenceKind.JOINED)).sessionId, second.sessionId);
  const third = await TestClient.connect(server.port);
  assert.equal(third.welcome.online, 3);
  // The who answer comes after anything the server queued for the third arrival.
  await first.send({ body: { case: "who", value: {} } });
  assert.equal((await first.next("who")).users.length, 3);
  await third[Symbol.asyncDispose]();
  // Back at the limit: the next departure is announced again.
  await second[Symbol.asyncDispose]();
  const left = await first.nextPresence(PresenceKind.LEFT);
  assert.equal(left.sessionId, second.sessionId);
  assert.ok(
    !first.received.some((m) =>
      m.body.case === "presence" && m.body.value.sessionId === third.sessionId
    ),
    "nothing about the client past the limit",
  );
});

Deno.test("limits - renames past --rename-limit's burst are refused, and nobody hears of them", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  await using renamer = await TestClient.connect(server.port);
  const names = ["one", "two", "three", "four", "five"];
  await renamer.send(...names.map((nickname) => ({
    body: { case: "hello" as const, value: { nickname } },
  })));
  // The default burst, then refusals: 3 renames out of 5.
  const refusals = await renamer.take("error", 2);
  for (const refusal of refusals) {
    assert.equal(refusal.code, ErrorCode.RATE_LIMITED);
    assert.equal(refusal.fatal, false);
    assert.match(refusal.message, /changing your nickname too often/);
  }
  await renamer.send({ body: { case: "who", value: {} } });
  const who = await renamer.next("who");
  assert.equal(who.users.find((u) => u.sessionId === renamer.sessionId)?.nickname, "three");
  await bystander.send({ body: { case: "who", value: {} } });
  await bystander.next("who");
  const renames = bystander.received.filter((m) =>
    m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED
  );
  assert.equal(renames.length, 3);
});
