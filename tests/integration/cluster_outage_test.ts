import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  Action,
  type ChatEvent,
  ErrorCode,
  type Presence,
  PresenceKind,
  type ServerMessage,
  type User,
  type WhoResponse,
} from "../../gen/chat/v1/chat_pb.ts";
import { freePort } from "../support/client_process.ts";
import { startClusterServer } from "../support/cluster.ts";
import { chat } from "../support/messages.ts";
import { RedisProcess } from "../support/redis_process.ts";
import { SERVER_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { until } from "../support/until.ts";

/** How long the servers may take to notice Redis is gone, or to rejoin once it is back. */
const WAIT_MS = 15_000;
const SERVER_ARGS = ["--rate-limit", "0", "--log-format", "json"];

function chatsOf(client: TestClient): ChatEvent[] {
  return client.received.flatMap((m) => m.body.case === "chat" ? [m.body.value] : []);
}

function chatsFrom(client: TestClient, sender: TestClient): ChatEvent[] {
  return chatsOf(client).filter((c) => c.fromSessionId === sender.sessionId);
}

/** Waits until `client` has `count` chats from `sender` whose content starts with `prefix`. */
function receive(
  client: TestClient,
  sender: TestClient,
  prefix: string,
  count: number,
  ms = WAIT_MS,
): Promise<ChatEvent[]> {
  const matching = () => chatsFrom(client, sender).filter((c) => c.content.startsWith(prefix));
  return until(
    client,
    () => matching().length >= count ? matching() : undefined,
    `${count} chats "${prefix}..." from ${sender.sessionId} at ${client.sessionId}`,
    ms,
  );
}

/** Fails if any chat reached `client` twice. */
function assertNoDuplicateChats(client: TestClient): void {
  const seen = new Set<string>();
  for (const c of chatsOf(client)) {
    const key = `${c.fromSessionId}/${c.clientSeq}`;
    assert.ok(!seen.has(key), `client ${client.sessionId} got chat ${key} twice`);
    seen.add(key);
  }
}

function presenceAfter(
  client: TestClient,
  from: number,
  kind: PresenceKind,
  sessionId: bigint,
): Presence | undefined {
  for (const m of client.received.slice(from)) {
    if (m.body.case === "presence" && m.body.value.kind === kind) {
      if (m.body.value.sessionId === sessionId) return m.body.value;
    }
  }
  return undefined;
}

function waitPresence(
  client: TestClient,
  from: number,
  kind: PresenceKind,
  of: TestClient,
): Promise<Presence> {
  return until(
    client,
    () => presenceAfter(client, from, kind, of.sessionId),
    `presence ${PresenceKind[kind]} of ${of.sessionId} at ${client.sessionId}`,
  );
}

/** Asks `who` and returns the session ids listed, sorted, with their nicknames. */
async function who(client: TestClient): Promise<User[]> {
  const from = client.received.length;
  await client.send({ body: { case: "who", value: {} } });
  const answer = await until(
    client,
    () => client.received.slice(from).find((m) => m.body.case === "who"),
    `who at ${client.sessionId}`,
  );
  return (answer.body.value as WhoResponse).users;
}

function sessionIds(users: User[]): bigint[] {
  return users.map((u) => u.sessionId).sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
}

function idsOf(...clients: TestClient[]): bigint[] {
  return sessionIds(clients.map((c) => ({ sessionId: c.sessionId }) as User));
}

function isPresence(kind: PresenceKind, sessionId: bigint) {
  return (m: ServerMessage) =>
    m.body.case === "presence" && m.body.value.kind === kind &&
    m.body.value.sessionId === sessionId;
}

/** The backplane fields of the server's stats line. */
async function backplaneStats(
  server: ServerProcess,
): Promise<{ backplane: string; backplane_outages: number }> {
  return (await server.stats()) as unknown as { backplane: string; backplane_outages: number };
}

/** Waits for the server's "lost Redis" warning, from line `from` on. */
async function lostRedis(server: ServerProcess, redis: RedisProcess, from: number): Promise<void> {
  const line = JSON.parse(await server.stdout.waitFor(/"event":"redis_lost"/, WAIT_MS, from));
  assert.match(
    line.message,
    new RegExp(
      `^lost Redis at 127\\.0\\.0\\.1:${redis.port} \\(.+\\): serving local clients only; retrying$`,
    ),
  );
  assert.equal(line.level, "warn");
}

/** Waits for the server's "joined the cluster" line, from line `from` on, and returns its fields. */
async function joinedCluster(
  server: ServerProcess,
  from: number,
): Promise<{ message: string; sent: number; servers: number }> {
  return JSON.parse(await server.stdout.waitFor("joined the cluster", WAIT_MS, from));
}

/** Redis, two cluster servers on it, and clients connected to each server. */
interface TwoServers extends AsyncDisposable {
  redis: RedisProcess;
  s1: ServerProcess;
  s2: ServerProcess;
  onS1: TestClient[];
  onS2: TestClient[];
}

/**
 * Starts Redis and two cluster servers on it, then connects `onS1` clients to the first
 * and `onS2` to the second; disposing closes the clients, stops the servers, then Redis.
 */
async function twoServers(onS1: number, onS2: number): Promise<TwoServers> {
  await using stack = new AsyncDisposableStack();
  const redis = stack.use(await RedisProcess.start());
  const s1 = stack.use(await startClusterServer(redis.url, SERVER_ARGS));
  const s2 = stack.use(await startClusterServer(redis.url, SERVER_ARGS));
  const connect = async (server: ServerProcess, count: number) => {
    const clients = [];
    for (let i = 0; i < count; i++) clients.push(stack.use(await TestClient.connect(server.port)));
    return clients;
  };
  const clients = { onS1: await connect(s1, onS1), onS2: await connect(s2, onS2) };
  const owned = stack.move();
  return { redis, s1, s2, ...clients, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/**
 * Kills Redis and waits for each server's "lost Redis" warning; returns where each
 * server's output stood before the kill.
 */
async function killRedis(redis: RedisProcess, servers: ServerProcess[]): Promise<number[]> {
  const from = servers.map((server) => server.stdout.lines.length);
  await redis.kill();
  for (const [i, server] of servers.entries()) await lostRedis(server, redis, from[i]);
  return from;
}

/** Restarts Redis and waits for each server's "joined the cluster" line; returns their fields. */
async function restartRedis(
  redis: RedisProcess,
  servers: ServerProcess[],
): Promise<{ message: string; sent: number; servers: number }[]> {
  const from = servers.map((server) => server.stdout.lines.length);
  await redis.restart();
  const joined = [];
  for (const [i, server] of servers.entries()) joined.push(await joinedCluster(server, from[i]));
  return joined;
}

const rename = (nickname: string) => ({ body: { case: "hello" as const, value: { nickname } } });

Deno.test("cluster - when Redis dies, local chat goes on and cross-server chat resumes after it is back", async () => {
  // Stats come from SIGUSR2 rather than /metrics: an HTTP port picked ahead could be
  // taken by another process before the server binds it, and the start would then hang.
  await using cluster = await twoServers(2, 2);
  const { redis, s1, s2, onS1, onS2 } = cluster;
  const [a1, a2] = onS1;
  const [b1, b2] = onS2;
  const everyone = [a1, a2, b1, b2];

  // Cross-server chat works both ways before the outage.
  await a1.send(chat("before from s1", Action.BROADCAST, 1n));
  await b1.send(chat("before from s2", Action.BROADCAST, 1n));
  await Promise.all(everyone.map((c) => receive(c, a1, "before from s1", 1)));
  await Promise.all(everyone.map((c) => receive(c, b1, "before from s2", 1)));

  await killRedis(redis, [s1, s2]);
  for (const server of [s1, s2]) {
    const stats = await backplaneStats(server);
    assert.equal(stats.backplane, "disconnected");
    assert.equal(stats.backplane_outages, 1);
  }

  // Local chat goes on: S1's broadcast reaches S1's clients at once...
  await a1.send(chat("outage from s1", Action.BROADCAST, 2n));
  await Promise.all(onS1.map((c) => receive(c, a1, "outage from s1", 1)));
  // ...and S2's 20 reach S2's clients at once, in order.
  const N = 20;
  await b1.send(
    ...Array.from(
      { length: N },
      (_, i) => chat(`outage from s2 #${i + 1}`, Action.BROADCAST, BigInt(101 + i)),
    ),
  );
  for (const c of onS2) {
    const got = await receive(c, b1, "outage from s2", N);
    assert.deepEqual(
      got.map((m) => m.clientSeq),
      Array.from({ length: N }, (_, i) => 101n + BigInt(i)),
    );
  }
  // Neither side has the other's outage-time chat yet.
  for (const c of onS2) assert.equal(chatsFrom(c, a1).length, 1, `S2 client ${c.sessionId}`);
  for (const c of onS1) assert.equal(chatsFrom(c, b1).length, 1, `S1 client ${c.sessionId}`);

  // A rename needs the cluster: refused, not fatal, and nothing changes.
  const renameFrom = a2.received.length;
  await a2.send(rename("carol"));
  const refused = await until(
    a2,
    () => a2.received.slice(renameFrom).find((m) => m.body.case === "error"),
    "the rename's error",
  );
  assert.ok(refused.body.case === "error");
  assert.equal(refused.body.value.code, ErrorCode.UNAVAILABLE);
  assert.equal(refused.body.value.fatal, false);
  assert.ok(!a2.received.slice(renameFrom).some(isPresence(PresenceKind.RENAMED, a2.sessionId)));

  const [joined1, joined2] = await restartRedis(redis, [s1, s2]);
  assert.equal(joined1.sent, 1, joined1.message);
  assert.equal(joined2.sent, N, joined2.message);
  assert.match(joined1.message, /, 1 event sent from the outbox, 0 dropped so far$/);
  assert.match(joined2.message, /, 20 events sent from the outbox, 0 dropped so far$/);

  // The outboxes arrive on the other side, in order.
  for (const c of onS1) {
    const got = await receive(c, b1, "outage from s2", N);
    assert.deepEqual(
      got.map((m) => m.content),
      Array.from({ length: N }, (_, i) => `outage from s2 #${i + 1}`),
    );
  }
  for (const c of onS2) await receive(c, a1, "outage from s1", 1);

  // Chat crosses servers again, both ways.
  await b2.send(chat("after from s2", Action.BROADCAST, 1n));
  await Promise.all(everyone.map((c) => receive(c, b2, "after from s2", 1)));
  await a2.send(chat("after from s1", Action.BROADCAST, 1n));
  await Promise.all(everyone.map((c) => receive(c, a2, "after from s1", 1)));

  // Exactly once: 2 before, 1 + 20 during, 2 after; nothing twice.
  for (const c of everyone) {
    assertNoDuplicateChats(c);
    assert.equal(chatsOf(c).length, 2 + 1 + N + 2, `chats at ${c.sessionId}`);
  }

  // Both servers list all four users again, a2 still under its guest name.
  for (const c of [a1, b1]) {
    const users = await who(c);
    assert.deepEqual(sessionIds(users), idsOf(...everyone), `who at ${c.sessionId}`);
    assert.equal(users.find((u) => u.sessionId === a2.sessionId)?.nickname, a2.welcome.nickname);
  }

  // Renames work again once the cluster is back.
  await a2.send(rename("carol"));
  for (const c of everyone) {
    const renamed = await waitPresence(c, 0, PresenceKind.RENAMED, a2);
    assert.equal(renamed.nickname, "carol");
  }

  for (const server of [s1, s2]) {
    const stats = await backplaneStats(server);
    assert.equal(stats.backplane, "connected");
    assert.ok(stats.backplane_outages >= 1, `backplane_outages ${stats.backplane_outages}`);
  }
});

Deno.test("cluster - a client that joins during the outage is announced after Redis returns", async () => {
  await using cluster = await twoServers(2, 1);
  const { redis, s1, s2, onS1: [a1, a2], onS2: [b1] } = cluster;
  // Everyone knows everyone before the outage: S1 has read b1's join, and S2 has read
  // a2's, which comes before a2's chat.
  await waitPresence(a1, 0, PresenceKind.JOINED, b1);
  await a2.send(chat("hello from s1", Action.BROADCAST, 1n));
  await receive(b1, a2, "hello from s1", 1);
  assert.deepEqual(sessionIds(await who(b1)), idsOf(a1, a2, b1));

  await killRedis(redis, [s1, s2]);

  // During the outage a2 leaves S1 and b2 joins S2: each server sees its own change only.
  const a1From = a1.received.length;
  const b1From = b1.received.length;
  await a2[Symbol.asyncDispose]();
  await waitPresence(a1, a1From, PresenceKind.LEFT, a2);
  await using b2 = await TestClient.connect(s2.port);
  await waitPresence(b1, b1From, PresenceKind.JOINED, b2);
  assert.deepEqual(sessionIds(await who(a1)), idsOf(a1, b1));
  assert.deepEqual(sessionIds(await who(b1)), idsOf(a1, a2, b1, b2));

  await restartRedis(redis, [s1, s2]);

  // S1's clients hear of b2, S2's of a2 leaving.
  const joined = await waitPresence(a1, a1From, PresenceKind.JOINED, b2);
  assert.equal(joined.nickname, b2.welcome.nickname);
  const left = await waitPresence(b1, b1From, PresenceKind.LEFT, a2);
  assert.equal(left.nickname, a2.welcome.nickname);
  await waitPresence(b2, 0, PresenceKind.LEFT, a2);

  assert.deepEqual(sessionIds(await who(a1)), idsOf(a1, b1, b2));
  assert.deepEqual(sessionIds(await who(b1)), idsOf(a1, b1, b2));
  assert.deepEqual(sessionIds(await who(b2)), idsOf(a1, b1, b2));
});

Deno.test("cluster - a server cannot start when Redis is unreachable", async () => {
  const run = async (redisUrl: string) => {
    const { code, stdout, stderr } = await ServerProcess.run(
      ["--port", "0", "--http-port", "0", "--redis", redisUrl],
      [Deno.execPath(), "run", "--allow-net", "--allow-env", SERVER_SCRIPT],
    );
    return { code, text: stdout + stderr };
  };

  const port = freePort();
  const refused = await run(`redis://127.0.0.1:${port}`);
  assert.equal(refused.code, 1, refused.text);
  assert.ok(
    refused.text.includes(`Cannot connect to Redis at 127.0.0.1:${port}: connection refused`),
    refused.text,
  );
  assert.doesNotMatch(refused.text, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(refused.text, /listening on/, "it never listened");

  const bad = await run("http://x");
  assert.equal(bad.code, 2, bad.text);
  assert.match(bad.text, /--redis/);
  assert.match(bad.text, /Expected a URL such as redis:\/\/127\.0\.0\.1:6379\./);
  assert.doesNotMatch(bad.text, /^\s+at /m, "no stack trace");
});

// After a Redis restart the first server to sync finds nobody else registered in the
// empty Redis; it must give the others time to register rather than take them for dead.
Deno.test({
  name: "cluster - users who stay connected through a Redis restart are not announced as leaving",
  async fn() {
    await using cluster = await twoServers(1, 1);
    const { redis, s1, s2, onS1: [a1], onS2: [b1] } = cluster;
    await waitPresence(a1, 0, PresenceKind.JOINED, b1);

    const from = await killRedis(redis, [s1, s2]);
    const a1From = a1.received.length;
    const b1From = b1.received.length;
    await restartRedis(redis, [s1, s2]);
    // A broadcast each way after both have synced: each server's reconciliation is behind it.
    await a1.send(chat("after from s1", Action.BROADCAST, 1n));
    await b1.send(chat("after from s2", Action.BROADCAST, 1n));
    await Promise.all([a1, b1].map((c) => receive(c, a1, "after from s1", 1)));
    await Promise.all([a1, b1].map((c) => receive(c, b1, "after from s2", 1)));

    assert.equal(presenceAfter(a1, a1From, PresenceKind.LEFT, b1.sessionId), undefined);
    assert.equal(presenceAfter(b1, b1From, PresenceKind.LEFT, a1.sessionId), undefined);
    for (const [i, server] of [s1, s2].entries()) {
      const gone = server.stdout.lines.slice(from[i]).find((l) => l.includes("stopped answering"));
      assert.equal(gone, undefined);
    }
  },
});

/** A Redis connection of the test's own, to act on Redis as an operator would. */
function operator(redis: RedisProcess): Redis & AsyncDisposable {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  return Object.assign(connection, {
    [Symbol.asyncDispose]: async () => {
      await connection.quit().catch(() => connection.disconnect());
    },
  });
}

/** Waits for the server's "lost Redis" line, from line `from` on, and returns its reason. */
async function lostReason(server: ServerProcess, from: number): Promise<string> {
  return JSON.parse(await server.stdout.waitFor(/"event":"redis_lost"/, WAIT_MS, from)).reason;
}

Deno.test("cluster - a read that Redis refuses restarts the connection and the cluster heals", async () => {
  await using cluster = await twoServers(1, 1);
  const { redis, s1, s2, onS1: [a], onS2: [b] } = cluster;
  await using admin = operator(redis);
  await a.send(chat("before from s1", Action.BROADCAST, 1n));
  await receive(b, a, "before from s1", 1);

  // Each server reads the stream on a connection of its own, blocked in XREAD. An error
  // reply ends the read but leaves the connection up: no "close" tells the server.
  const from = [s1.stdout.lines.length, s2.stdout.lines.length];
  const list = String(await admin.client("LIST"));
  const readers = list.split("\n").filter((line) => / cmd=xread /.test(line))
    .map((line) => /\bid=(\d+)/.exec(line)![1]);
  assert.equal(readers.length, 2, list);
  for (const id of readers) {
    // Between two reads a reader is not blocked, for a moment: ask again then.
    const giveUpAt = Date.now() + WAIT_MS;
    while (await admin.client("UNBLOCK", id, "ERROR") !== 1) {
      assert.ok(Date.now() < giveUpAt, `reader ${id} never blocked`);
    }
  }
  for (const [i, server] of [s1, s2].entries()) {
    assert.match(await lostReason(server, from[i]), /^read failed\b/);
    await joinedCluster(server, from[i]);
  }

  // Chat crosses servers again, both ways, once.
  await a.send(chat("after from s1", Action.BROADCAST, 2n));
  await b.send(chat("after from s2", Action.BROADCAST, 1n));
  for (const c of [a, b]) {
    await receive(c, a, "after from s1", 1);
    await receive(c, b, "after from s2", 1);
    assertNoDuplicateChats(c);
    assert.equal(chatsOf(c).length, 3, `chats at ${c.sessionId}`);
  }
});

Deno.test("cluster - a write that Redis refuses is sent again, not lost", async () => {
  await using cluster = await twoServers(1, 1);
  const { redis, s1, onS1: [a], onS2: [b] } = cluster;
  await using admin = operator(redis);
  await a.send(chat("m1", Action.BROADCAST, 1n));
  await receive(b, a, "m1", 1);

  // Too few replicas: Redis refuses every write, as when out of memory, on live connections.
  const from = s1.stdout.lines.length;
  await admin.config("SET", "min-replicas-to-write", "1");
  await a.send(chat("m2", Action.BROADCAST, 2n), chat("m3", Action.BROADCAST, 3n));
  // (The heartbeat, a write too, may be the one refused first.)
  assert.match(await lostReason(s1, from), /NOREPLICAS/);
  await admin.config("SET", "min-replicas-to-write", "0");
  await joinedCluster(s1, from);
  await a.send(chat("m4", Action.BROADCAST, 4n));

  // Every one arrives, the refused ones perhaps after later ones (docs/scaling-out.md says so)...
  const got = await receive(b, a, "m", 4);
  assert.deepEqual(got.map((c) => c.content).toSorted(), ["m1", "m2", "m3", "m4"]);
  // ...and once: a repeat of any would come before this last one.
  await a.send(chat("fence", Action.BROADCAST, 5n));
  for (const c of [a, b]) {
    await receive(c, a, "fence", 1);
    assertNoDuplicateChats(c);
    assert.equal(chatsFrom(c, a).length, 5, `chats at ${c.sessionId}`);
  }
});

Deno.test("cluster - a server whose first sync fails does not replay old chat to its clients", async () => {
  await using redis = await RedisProcess.start();
  await using s1 = await startClusterServer(redis.url, SERVER_ARGS);
  await using admin = operator(redis);
  await using a = await TestClient.connect(s1.port);
  // The claim goes to Redis after the chats, on the same connection: once a is renamed,
  // they are in the stream.
  await a.send(
    chat("old 1", Action.BROADCAST, 1n),
    chat("old 2", Action.BROADCAST, 2n),
    chat("old 3", Action.BROADCAST, 3n),
    rename("alice"),
  );
  await waitPresence(a, 0, PresenceKind.RENAMED, a);

  // A Redis user whose scripts are refused: the new server takes its number, then its
  // first sync fails, and it retries.
  await admin.call(
    "ACL",
    "SETUSER",
    "chat",
    "on",
    "nopass",
    "~*",
    "&*",
    "+@all",
    "-eval",
    "-evalsha",
  );
  await using s2 = await ServerProcess.start(
    ["--redis", `redis://chat@127.0.0.1:${redis.port}`, ...SERVER_ARGS],
    [Deno.execPath(), "run", "--allow-net", "--allow-env", SERVER_SCRIPT],
  );
  const failed = JSON.parse(await s2.stdout.waitFor(/"event":"redis_sync_failed"/, WAIT_MS));
  assert.match(failed.message, /NOPERM/);
  await using c = await TestClient.connect(s2.port);
  await admin.call("ACL", "SETUSER", "chat", "+eval", "+evalsha");
  await joinedCluster(s2, 0);

  // What a sent before c's server joined is not c's to hear; anything replayed would come
  // before a's next message.
  await a.send(chat("new", Action.BROADCAST, 4n));
  await receive(c, a, "new", 1);
  assert.deepEqual(chatsOf(c).map((m) => m.content), ["new"]);
});
