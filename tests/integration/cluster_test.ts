import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { Redis } from "ioredis";
import {
  Action,
  type ChatEvent,
  ChatEventSchema,
  ErrorCode,
  type Presence,
  PresenceKind,
  type ServerMessage,
} from "../../gen/chat/v1/chat_pb.ts";
import { startClusterServer } from "../support/cluster.ts";
import { RedisProcess } from "../support/redis_process.ts";
import { ServerProcess } from "../support/server_process.ts";
import { connectMany, TestClient } from "../support/test_client.ts";

/** No rate limit: the tests send as fast as they can. */
const SERVER_ARGS = ["--rate-limit", "0", "--quiet"];

const chat = (content: string, clientSeq: bigint) => ({
  body: { case: "chat" as const, value: { content, action: Action.BROADCAST, clientSeq } },
});
const hello = (nickname: string) => ({ body: { case: "hello" as const, value: { nickname } } });

/**
 * A Redis of its own and some servers of one cluster on it, with the number each took;
 * disposing kills the servers, then Redis.
 */
class Cluster implements AsyncDisposable {
  private constructor(
    readonly redis: RedisProcess,
    readonly servers: ServerProcess[],
    readonly nodes: number[],
  ) {}

  static async start(count: number, args: string[] = []): Promise<Cluster> {
    const redis = await RedisProcess.start();
    try {
      const { servers, nodes } = await Cluster.#startServers(redis.url, count, args);
      return new Cluster(redis, servers, nodes);
    } catch (error) {
      await redis[Symbol.asyncDispose]();
      throw error;
    }
  }

  static async #startServers(redisUrl: string, count: number, args: string[]) {
    const started = await Promise.allSettled(
      Array.from({ length: count }, () => startClusterServer(redisUrl, [...SERVER_ARGS, ...args])),
    );
    const servers = started.flatMap((result) =>
      result.status === "fulfilled" ? [result.value] : []
    );
    const failed = started.find((result) => result.status === "rejected");
    if (failed !== undefined) {
      await Promise.all(servers.map((server) => server[Symbol.asyncDispose]()));
      throw failed.reason;
    }
    const nodes = await Promise.all(servers.map(async (server) => {
      const line = await server.stdout.waitFor("joined the cluster", 1000);
      return Number(/ as server (\d+):/.exec(line)![1]);
    }));
    return { servers, nodes };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.servers.map((server) => server[Symbol.asyncDispose]()));
    await this.redis[Symbol.asyncDispose]();
  }
}

/** Connects a client to each of `servers` in turn, each disposed with `stack`. */
async function connectEach(
  stack: AsyncDisposableStack,
  servers: ServerProcess[],
): Promise<TestClient[]> {
  const clients = [];
  for (const server of servers) clients.push(stack.use(await TestClient.connect(server.port)));
  return clients;
}

const isPresence = (message: ServerMessage, kind: PresenceKind, sessionId: bigint) =>
  message.body.case === "presence" && message.body.value.kind === kind &&
  message.body.value.sessionId === sessionId;

/** The next Presence of this kind about this session. */
async function presenceOf(
  client: TestClient,
  kind: PresenceKind,
  sessionId: bigint,
  ms = 10_000,
): Promise<Presence> {
  const message = await client.nextMatching(
    (m) => isPresence(m, kind, sessionId),
    ms,
    `presence ${PresenceKind[kind]} of ${sessionId}`,
  );
  return message.body.value as Presence;
}

/** `who`, as [session id, nickname] pairs sorted by session id. */
async function who(client: TestClient): Promise<[bigint, string][]> {
  await client.send({ body: { case: "who", value: {} } });
  return (await client.next("who")).users
    .map((user): [bigint, string] => [user.sessionId, user.nickname])
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Waits until the client's server knows of every session in `ids`. A user the
 * server did not know when asked is announced to the client (JOINED) once it does,
 * so no polling is needed.
 */
async function knowsOf(client: TestClient, ids: bigint[], ms = 10_000): Promise<void> {
  const listed = new Set((await who(client)).map(([id]) => id));
  for (const id of ids) {
    if (!listed.has(id)) await client.seen((m) => isPresence(m, PresenceKind.JOINED, id), ms);
  }
}

/** Asks for a nickname: "renamed" when the client hears its own RENAMED, or the error code. */
async function claim(client: TestClient, nickname: string): Promise<"renamed" | ErrorCode> {
  await client.send(hello(nickname));
  return await answerTo(client, nickname);
}

async function answerTo(client: TestClient, nickname: string): Promise<"renamed" | ErrorCode> {
  const answer = await client.nextMatching(
    (m) =>
      m.body.case === "error" ||
      (isPresence(m, PresenceKind.RENAMED, client.sessionId) &&
        (m.body.value as Presence).nickname === nickname),
    10_000,
    `the answer to claiming "${nickname}"`,
  );
  if (answer.body.case === "error") {
    assert.equal(answer.body.value.fatal, false);
    return answer.body.value.code;
  }
  return "renamed";
}

/**
 * Every sender broadcasts one more message, `fenceSeq`, and every client must then
 * receive exactly those fences as its next chat events: a duplicate of anything a
 * sender sent before would arrive ahead of its fence.
 */
async function fence(clients: TestClient[], senders: TestClient[], fenceSeq: bigint) {
  await Promise.all(senders.map((sender) => sender.send(chat("fence", fenceSeq))));
  await Promise.all(clients.map(async (client) => {
    const events = await client.take("chat", senders.length, 10_000);
    for (const event of events) {
      assert.equal(event.content, "fence", `a chat event after the last expected one`);
      assert.equal(event.clientSeq, fenceSeq);
    }
    assert.deepEqual(
      new Set(events.map((event) => event.fromSessionId)),
      new Set(senders.map((sender) => sender.sessionId)),
    );
  }));
}

/** Each sender's clientSeqs, in order received, must be 1, 2, 3... */
function assertPerSenderOrder(events: ChatEvent[], what: string): Map<bigint, bigint> {
  const last = new Map<bigint, bigint>();
  for (const event of events) {
    const previous = last.get(event.fromSessionId) ?? 0n;
    assert.equal(event.clientSeq, previous + 1n, `${what}: from ${event.fromSessionId}`);
    last.set(event.fromSessionId, event.clientSeq);
  }
  return last;
}

Deno.test("cluster - 3 servers x 2 clients x 50 broadcasts: each delivered exactly once everywhere, in per-sender order", async () => {
  const EACH = 50;
  await using cluster = await Cluster.start(3);
  await using stack = new AsyncDisposableStack();
  const groups = await Promise.all(cluster.servers.map((s) => connectMany(stack, s.port, 2)));
  const clients = groups.flat();

  // Session ids: unique cluster-wide, and each carries its server's number.
  assert.equal(new Set(clients.map((c) => c.sessionId)).size, clients.length);
  groups.forEach((group, i) => {
    for (const client of group) assert.equal(client.sessionId % 1000n, BigInt(cluster.nodes[i]));
  });
  const nicknames = new Map(clients.map((c) => [c.sessionId, c.welcome.nickname]));

  await Promise.all(clients.map((client) => {
    const messages = [];
    for (let seq = 1n; seq <= BigInt(EACH); seq++) {
      messages.push(chat(`${client.sessionId}/${seq}`, seq));
    }
    return client.send(...messages);
  }));

  const total = clients.length * EACH;
  await Promise.all(clients.map(async (client) => {
    const events = await client.take("chat", total, 20_000);
    for (const event of events) {
      assert.equal(event.action, Action.BROADCAST);
      assert.equal(event.content, `${event.fromSessionId}/${event.clientSeq}`);
      assert.equal(event.fromNickname, nicknames.get(event.fromSessionId));
    }
    // Consecutive from 1 per sender, 300 in all: every (sender, seq) exactly once.
    const last = assertPerSenderOrder(events, `client ${client.sessionId}`);
    assert.deepEqual(
      [...last].sort(([a], [b]) => a < b ? -1 : 1),
      [...nicknames.keys()].sort((a, b) => a < b ? -1 : 1).map((id) => [id, BigInt(EACH)]),
    );
  }));
  await fence(clients, clients, BigInt(EACH + 1));
});

Deno.test("cluster - observers on a third server see two servers' messages in the order of the room's history", async () => {
  const EACH = 100;
  await using cluster = await Cluster.start(3);
  const [a, b, c] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const senders = [...await connectMany(stack, a.port, 2), ...await connectMany(stack, b.port, 2)];
  const observers = await connectMany(stack, c.port, 2);

  // All senders at once, each waiting for its own message to come back before the next,
  // so that the two servers' entries interleave in the stream rather than come in blocks.
  await Promise.all(senders.map(async (sender) => {
    for (let seq = 1n; seq <= BigInt(EACH); seq++) {
      await sender.send(chat(`${sender.sessionId}/${seq}`, seq));
      await sender.nextMatching((m) =>
        m.body.case === "chat" && m.body.value.fromSessionId === sender.sessionId &&
        m.body.value.clientSeq === seq
      );
    }
  }));
  const total = senders.length * EACH;
  const orders = await Promise.all(observers.map(async (observer) => {
    const events = await observer.take("chat", total, 20_000);
    assertPerSenderOrder(events, `observer ${observer.sessionId}`);
    return events.map((event) => `${event.fromSessionId}/${event.clientSeq}`);
  }));

  // Every server orders a room's messages by their event ids, which Redis gives out:
  // the order of the room's history, where everything the observers got is now.
  const reader = new Redis(cluster.redis.url);
  let stream;
  try {
    stream = await reader.xrangeBuffer("chat:room:#lobby:history", "-", "+");
  } finally {
    reader.disconnect();
  }
  const streamOrder = [];
  for (const [, fields] of stream) {
    const stored = fields[fields.findIndex((field) => field.toString() === "e") + 1];
    const event = fromBinary(ChatEventSchema, stored);
    streamOrder.push(`${event.fromSessionId}/${event.clientSeq}`);
  }
  assert.equal(streamOrder.length, total);
  assert.deepEqual(orders[0], streamOrder);
  assert.deepEqual(orders[1], orders[0]);
  await fence(observers, senders, BigInt(EACH + 1));
});

Deno.test("cluster - presence and who span servers: joins, renames and leaves", async () => {
  await using cluster = await Cluster.start(3);
  const [s1, s2, s3] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const [alice, carol] = await connectEach(stack, [s1, s3]);
  await knowsOf(alice, [carol.sessionId]);
  await knowsOf(carol, [alice.sessionId]);

  // A join on server 2 is announced on servers 1 and 3, with the cluster-wide count.
  const bob = stack.use(await TestClient.connect(s2.port));
  for (const observer of [alice, carol]) {
    const joined = await presenceOf(observer, PresenceKind.JOINED, bob.sessionId);
    assert.equal(joined.nickname, bob.welcome.nickname);
    assert.equal(joined.online, 3);
  }
  const everyone: [bigint, string][] = [
    [alice.sessionId, alice.welcome.nickname],
    [bob.sessionId, bob.welcome.nickname],
    [carol.sessionId, carol.welcome.nickname],
  ].sort(([a], [b]) => a < b ? -1 : 1) as [bigint, string][];
  assert.deepEqual(await who(carol), everyone);
  await knowsOf(bob, [alice.sessionId, carol.sessionId]);
  assert.deepEqual(await who(bob), everyone);

  // Renames, from server 2 and from server 1, reach the other servers.
  assert.equal(await claim(bob, "bobby"), "renamed");
  for (const observer of [alice, carol]) {
    const renamed = await presenceOf(observer, PresenceKind.RENAMED, bob.sessionId);
    assert.equal(renamed.nickname, "bobby");
    assert.equal(renamed.previousNickname, bob.welcome.nickname);
    assert.equal(renamed.online, 3);
  }
  assert.equal(await claim(alice, "Alice"), "renamed");
  for (const observer of [bob, carol]) {
    const renamed = await presenceOf(observer, PresenceKind.RENAMED, alice.sessionId);
    assert.equal(renamed.nickname, "Alice");
    assert.equal(renamed.previousNickname, alice.welcome.nickname);
  }
  const named = (id: bigint, nickname: string) =>
    id === bob.sessionId ? "bobby" : id === alice.sessionId ? "Alice" : nickname;
  assert.deepEqual(await who(carol), everyone.map(([id, nick]) => [id, named(id, nick)]));

  // A close on server 2 is a LEFT on the others, and bob is gone from who.
  await bob[Symbol.asyncDispose]();
  for (const observer of [alice, carol]) {
    const left = await presenceOf(observer, PresenceKind.LEFT, bob.sessionId);
    assert.equal(left.nickname, "bobby");
    assert.equal(left.online, 2);
  }
  const rest = everyone.filter(([id]) => id !== bob.sessionId)
    .map(([id, nick]): [bigint, string] => [id, named(id, nick)]);
  assert.deepEqual(await who(carol), rest);
  assert.deepEqual(await who(alice), rest);
});

Deno.test("cluster - nicknames are unique across servers; a simultaneous claim has one winner", async () => {
  await using cluster = await Cluster.start(2, ["--rename-limit", "0"]);
  const [s1, s2] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const [alice, bob] = await connectEach(stack, [s1, s2]);

  assert.equal(await claim(alice, "alice"), "renamed");
  // Whether or not server 2 has heard of the rename yet, Redis refuses the claim.
  assert.equal(await claim(bob, "ALICE"), ErrorCode.NICKNAME_TAKEN);
  // Look-alikes too (Latin alpha, "i" with a dot above): Redis holds the same key for them.
  assert.equal(await claim(bob, "\u0251lice"), ErrorCode.NICKNAME_TAKEN);
  assert.equal(await claim(bob, "ali\u0307ce"), ErrorCode.NICKNAME_TAKEN);

  const [carol, dave] = await connectEach(stack, [s1, s2]);
  for (const [round, nickname] of ["zed", "Zed-2", "zed-3", "zed-4", "zed-5"].entries()) {
    const pair = round % 2 === 0 ? [carol, dave] : [dave, carol];
    await Promise.all(pair.map((client) => client.send(hello(nickname))));
    const answers = await Promise.all(pair.map((client) => answerTo(client, nickname)));
    assert.deepEqual(
      answers.toSorted(),
      ["renamed", ErrorCode.NICKNAME_TAKEN].toSorted(),
      `round ${round}: ${answers}`,
    );
  }

  // Once alice is gone (server 2 has heard), her nickname is free on server 2.
  await alice[Symbol.asyncDispose]();
  await presenceOf(bob, PresenceKind.LEFT, alice.sessionId);
  assert.equal(await claim(bob, "alice"), "renamed");
  const renamed = await presenceOf(carol, PresenceKind.RENAMED, bob.sessionId);
  assert.equal(renamed.nickname, "alice");
});

Deno.test("cluster - a server killed with SIGKILL: its users leave the others' who once it expires, and free their nicknames", async () => {
  const EXPIRY_SECONDS = 2;
  await using cluster = await Cluster.start(3, [
    "--cluster-expiry",
    String(EXPIRY_SECONDS),
  ]);
  const [victim, s2, s3] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const doomed = await connectMany(stack, victim.port, 2);
  const survivors = await connectEach(stack, [s2, s3]);
  const all = [...doomed, ...survivors].map((c) => c.sessionId);
  for (const survivor of survivors) await knowsOf(survivor, all);
  assert.equal(await claim(doomed[0], "victim"), "renamed");
  for (const survivor of survivors) {
    await presenceOf(survivor, PresenceKind.RENAMED, doomed[0].sessionId);
  }

  victim.process.kill("SIGKILL");
  await victim.process.status;
  const killedAt = performance.now();
  await Promise.all(survivors.map(async (survivor) => {
    const online = [];
    // In whichever order they come.
    for (const user of doomed) {
      const left = await survivor.seen(
        (m) => isPresence(m, PresenceKind.LEFT, user.sessionId),
        10_000,
      );
      online.push((left.body.value as Presence).online);
    }
    assert.deepEqual(online.toSorted(), [2, 3]);
  }));
  console.log(
    `cluster - killed server's users left after ${
      Math.round(performance.now() - killedAt)
    } ms (expiry ${EXPIRY_SECONDS} s)`,
  );
  const rest = survivors.map((c): [bigint, string] => [c.sessionId, c.welcome.nickname])
    .sort(([a], [b]) => a < b ? -1 : 1);
  for (const survivor of survivors) assert.deepEqual(await who(survivor), rest);
  // The nickname the dead server's user held is free again.
  assert.equal(await claim(survivors[0], "victim"), "renamed");
  const renamed = await presenceOf(survivors[1], PresenceKind.RENAMED, survivors[0].sessionId);
  assert.equal(renamed.nickname, "victim");
});

interface LoadFigures {
  deliveries: number;
  seconds: number;
  /** Send to receipt, ms, every delivery. */
  all: number[];
  /** Only deliveries to a client of the sender's own server. */
  sameServer: number[];
  /** Only deliveries to a client of another server. */
  otherServer: number[];
}

const LOAD_CLIENTS_PER_SERVER = 10;
const LOAD_PUBLISHERS_PER_SERVER = 2;
const LOAD_MESSAGES = 200;
/** Sends in flight per publisher: the throughput run, and an unloaded run for latency. */
const LOAD_WINDOWS = [16, 1];

/**
 * Connects the clients to `ports` (one group per port), has the publishers of each group
 * broadcast LOAD_MESSAGES with at most `window` of their own not yet echoed back,
 * and checks every client gets every message once, in per-sender order.
 */
async function runLoad(ports: number[], window: number): Promise<LoadFigures> {
  await using stack = new AsyncDisposableStack();
  const groups = await Promise.all(
    ports.map((port) => connectMany(stack, port, LOAD_CLIENTS_PER_SERVER)),
  );
  const serverOf = new Map<bigint, number>();
  groups.forEach((group, i) => group.forEach((client) => serverOf.set(client.sessionId, ports[i])));
  const clients = groups.flat();
  const publishers = groups.flatMap((group) => group.slice(0, LOAD_PUBLISHERS_PER_SERVER));
  const sentAt = new Map(
    publishers.map((p) => [p.sessionId, new Array<number>(LOAD_MESSAGES + 1)]),
  );
  const windows = new Map(publishers.map((p) => [p.sessionId, new Window(window)]));
  const expected = publishers.length * LOAD_MESSAGES;
  const figures: LoadFigures = {
    deliveries: 0,
    seconds: 0,
    all: [],
    sameServer: [],
    otherServer: [],
  };

  const started = performance.now();
  const receiving = Promise.all(clients.map(async (client) => {
    const last = new Map<bigint, bigint>();
    for (let i = 0; i < expected; i++) {
      const event = await client.next("chat", 20_000);
      const latency = performance.now() - sentAt.get(event.fromSessionId)![Number(event.clientSeq)];
      const previous = last.get(event.fromSessionId) ?? 0n;
      assert.equal(event.clientSeq, previous + 1n, `client ${client.sessionId}`);
      last.set(event.fromSessionId, event.clientSeq);
      figures.all.push(latency);
      const same = serverOf.get(event.fromSessionId) === serverOf.get(client.sessionId);
      (same ? figures.sameServer : figures.otherServer).push(latency);
      if (event.fromSessionId === client.sessionId) windows.get(client.sessionId)!.release();
    }
    for (const publisher of publishers) {
      assert.equal(last.get(publisher.sessionId), BigInt(LOAD_MESSAGES));
    }
  }));
  const publishing = Promise.all(publishers.map(async (publisher) => {
    const inFlight = windows.get(publisher.sessionId)!;
    const times = sentAt.get(publisher.sessionId)!;
    for (let seq = 1; seq <= LOAD_MESSAGES; seq++) {
      await inFlight.acquire();
      times[seq] = performance.now();
      await publisher.send(chat(`${publisher.sessionId}/${seq}`, BigInt(seq)));
    }
  }));
  // A receiver that fails stops acknowledging: do not wait for the publishers then.
  await Promise.all([receiving, publishing]);
  figures.seconds = (performance.now() - started) / 1000;
  figures.deliveries = figures.all.length;
  assert.equal(figures.deliveries, expected * clients.length);
  await fence(clients, publishers, BigInt(LOAD_MESSAGES + 1));
  return figures;
}

/** At most `size` sends not yet acknowledged. */
class Window {
  #free: number;
  #wake: (() => void) | undefined;

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(): Promise<void> {
    while (this.#free === 0) await new Promise<void>((resolve) => this.#wake = resolve);
    this.#free--;
  }

  release(): void {
    this.#free++;
    this.#wake?.();
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function describeLoad(name: string, figures: LoadFigures): string {
  const ms = (values: number[]) =>
    `p50 ${percentile(values, 0.5).toFixed(1)} ms, p99 ${percentile(values, 0.99).toFixed(1)} ms`;
  const parts = [
    `${name}: ${figures.deliveries} deliveries in ${figures.seconds.toFixed(2)} s = ${
      Math.round(figures.deliveries / figures.seconds)
    }/s; latency ${ms(figures.all)}`,
  ];
  if (figures.otherServer.length > 0) {
    parts.push(`same server ${ms(figures.sameServer)}; other server ${ms(figures.otherServer)}`);
  }
  return parts.join("; ");
}

Deno.test("cluster - bounded load over 3 servers: no loss, no duplicates, per-sender order; compared with one server", async () => {
  const cluster: LoadFigures[] = [];
  {
    await using servers = await Cluster.start(3);
    const ports = servers.servers.map((server) => server.port);
    for (const window of LOAD_WINDOWS) cluster.push(await runLoad(ports, window));
  }
  const single: LoadFigures[] = [];
  {
    await using server = await ServerProcess.start(SERVER_ARGS);
    const ports = [server.port, server.port, server.port];
    for (const window of LOAD_WINDOWS) single.push(await runLoad(ports, window));
  }
  console.log(
    `load: ${3 * LOAD_CLIENTS_PER_SERVER} clients, ${
      3 * LOAD_PUBLISHERS_PER_SERVER
    } publishers x ${LOAD_MESSAGES} broadcasts`,
  );
  LOAD_WINDOWS.forEach((window, i) => {
    console.log(`  window ${window}:`);
    console.log(`    ${describeLoad("3 servers + Redis ", cluster[i])}`);
    console.log(`    ${describeLoad("1 server, no Redis", single[i])}`);
  });
});

/** "RENAMED bot", "chat bot: hi", "LEFT bot": what a listener heard about `sessionId`, in order. */
function heardAbout(client: TestClient, sessionId: bigint): string[] {
  return client.received.flatMap((m) => {
    if (m.body.case === "chat" && m.body.value.fromSessionId === sessionId) {
      return [`chat ${m.body.value.fromNickname}: ${m.body.value.content}`];
    }
    if (m.body.case === "presence" && m.body.value.sessionId === sessionId) {
      return [`${PresenceKind[m.body.value.kind]} ${m.body.value.nickname}`];
    }
    return [];
  });
}

Deno.test("cluster - a client that renames, says something and quits at once is heard, then leaves", async () => {
  await using cluster = await Cluster.start(2);
  const [a, b] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const [local, remote, bot] = await connectEach(stack, [a, b, a]);
  await presenceOf(local, PresenceKind.JOINED, bot.sessionId);
  await presenceOf(remote, PresenceKind.JOINED, bot.sessionId);

  // One write, then the close: the rename waits for Redis, and the chat and the close
  // must wait behind it.
  await bot.send(hello("bot"), chat("bye from bot", 1n));
  await bot[Symbol.asyncDispose]();

  for (const listener of [local, remote]) {
    await presenceOf(listener, PresenceKind.LEFT, bot.sessionId);
    assert.deepEqual(
      heardAbout(listener, bot.sessionId),
      [
        `JOINED ${bot.welcome.nickname}`,
        "RENAMED bot",
        "chat bot: bye from bot",
        "LEFT bot",
      ],
      `at ${listener.sessionId}`,
    );
  }
});
