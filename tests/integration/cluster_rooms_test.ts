// Rooms, private messages and history across a cluster (issue 15): real servers on one real
// Redis, talked to by raw protocol clients. Every wait is for an expected message or log
// line, under a deadline; nothing sleeps.
import assert from "node:assert/strict";
import {
  Action,
  type ChatEvent,
  ErrorCode,
  type HistoryEnd,
  type Presence,
  PresenceKind,
  type RoomJoined,
  type RoomsResponse,
  type ServerMessage,
  type WhoResponse,
} from "../../gen/chat/v1/chat_pb.ts";
import type { ClientMessageInit } from "../../lib/protocol/codec.ts";
import { startClusterServer } from "../support/cluster.ts";
import { RedisProcess } from "../support/redis_process.ts";
import type { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { until } from "../support/until.ts";

/** How long a server may take to hear of another's event, or to notice Redis come and go. */
const WAIT_MS = 15_000;
/** JSON logs, for the events the outage test waits for; no per-connection lines. */
const SERVER_ARGS = ["--rate-limit", "0", "--log-format", "json", "--quiet"];

const say = (content: string, room = "", clientSeq = 1n): ClientMessageInit => ({
  body: { case: "chat", value: { content, action: Action.BROADCAST, room, clientSeq } },
});
const privately = (toNickname: string, content: string, clientSeq = 1n): ClientMessageInit => ({
  body: { case: "chat", value: { content, action: Action.PRIVATE, toNickname, clientSeq } },
});
const join = (room: string, resume = false, lastEventId = 0n): ClientMessageInit => ({
  body: { case: "join", value: { room, resume, lastEventId } },
});
const part = (room: string): ClientMessageInit => ({ body: { case: "part", value: { room } } });
const hello = (nickname: string): ClientMessageInit => ({
  body: { case: "hello", value: { nickname } },
});
const historyRequest = (room: string, beforeEventId = 0n, count = 0): ClientMessageInit => ({
  body: { case: "history", value: { room, beforeEventId, count } },
});

/** Redis and some servers of one cluster on it; disposing stops the servers, then Redis. */
interface Cluster extends AsyncDisposable {
  redis: RedisProcess;
  servers: ServerProcess[];
}

async function startCluster(count: number, args: string[] = []): Promise<Cluster> {
  await using stack = new AsyncDisposableStack();
  const redis = stack.use(await RedisProcess.start());
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => startClusterServer(redis.url, [...SERVER_ARGS, ...args])),
  );
  const servers = started.flatMap((result) => result.status === "fulfilled" ? [result.value] : []);
  for (const server of servers) stack.use(server);
  const failed = started.find((result) => result.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  const owned = stack.move();
  return { redis, servers, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

type Case = NonNullable<ServerMessage["body"]["case"]>;
type BodyOf<C extends Case> = Extract<ServerMessage["body"], { case: C }>["value"];

/** The first message of this kind received from index `from` on, waiting for it. */
async function answer<C extends Case>(
  client: TestClient,
  from: number,
  kind: C,
): Promise<BodyOf<C>> {
  const message = await until(
    client,
    () => client.received.slice(from).find((m) => m.body.case === kind),
    `${kind} at ${client.sessionId}`,
  );
  return message.body.value as BodyOf<C>;
}

/** Sends a request and waits for its answer, of this kind. */
async function ask<C extends Case>(
  client: TestClient,
  request: ClientMessageInit,
  kind: C,
): Promise<BodyOf<C>> {
  const from = client.received.length;
  await client.send(request);
  return await answer(client, from, kind);
}

function chatsOf(client: TestClient, from = 0): ChatEvent[] {
  return client.received.slice(from).flatMap((m) => m.body.case === "chat" ? [m.body.value] : []);
}

/** Chat events of a room ("" for the lobby), as received. */
function chatsIn(client: TestClient, room: string, from = 0): ChatEvent[] {
  return chatsOf(client, from).filter((event) => event.room === room);
}

/** Waits until the client has `count` chat events of the room (from index `from` on). */
function receiveIn(
  client: TestClient,
  room: string,
  count: number,
  from = 0,
): Promise<ChatEvent[]> {
  return until(client, () => {
    const events = chatsIn(client, room, from);
    return events.length >= count ? events : undefined;
  }, `${count} chats in "${room}" at ${client.sessionId}`);
}

function presences(client: TestClient, from = 0): Presence[] {
  return client.received.slice(from).flatMap((m) =>
    m.body.case === "presence" ? [m.body.value] : []
  );
}

/** Waits for a Presence of this kind about `sessionId` in `room` ("" for the lobby). */
function presenceIn(
  client: TestClient,
  kind: PresenceKind,
  room: string,
  sessionId: bigint,
  from = 0,
): Promise<Presence> {
  return until(
    client,
    () =>
      presences(client, from).find((p) =>
        p.kind === kind && p.room === room && p.sessionId === sessionId
      ),
    `presence ${PresenceKind[kind]} of ${sessionId} in "${room}" at ${client.sessionId}`,
  );
}

/** Connects and takes a nickname, waiting for the server's confirmation. */
async function connectAs(
  stack: AsyncDisposableStack,
  server: ServerProcess,
  nickname: string,
): Promise<TestClient> {
  const client = stack.use(await TestClient.connect(server.port));
  await client.send(hello(nickname));
  await presenceIn(client, PresenceKind.RENAMED, "", client.sessionId);
  return client;
}

async function joinRoom(client: TestClient, room: string): Promise<RoomJoined> {
  return await ask(client, join(room), "joined");
}

async function who(client: TestClient, room = ""): Promise<WhoResponse> {
  return await ask(client, { body: { case: "who", value: { room } } }, "who");
}

async function rooms(client: TestClient): Promise<{ name: string; members: number }[]> {
  const response: RoomsResponse = await ask(
    client,
    { body: { case: "rooms", value: {} } },
    "rooms",
  );
  return response.rooms.map(({ name, members }) => ({ name, members }));
}

/**
 * Waits until the client's server knows every session of `ids` to be in the room ("" for
 * the lobby), with `nicknames` where given: a user its server learns of later is announced
 * to the room's members (JOINED, or RENAMED), so one `who` and then presence is enough.
 */
async function knowsInRoom(
  client: TestClient,
  room: string,
  ids: bigint[],
  nicknames: Map<bigint, string> = new Map(),
): Promise<void> {
  const from = client.received.length;
  const listed = (await who(client, room)).users;
  for (const id of ids) {
    const nickname = nicknames.get(id);
    const user = listed.find((u) => u.sessionId === id);
    if (user !== undefined && (nickname === undefined || user.nickname === nickname)) continue;
    await until(
      client,
      () =>
        presences(client, from).find((p) =>
          p.sessionId === id && p.room === room &&
          (p.kind === PresenceKind.JOINED || p.kind === PresenceKind.RENAMED) &&
          (nickname === undefined || p.nickname === nickname)
        ),
      `${client.sessionId} to hear of ${id} in "${room}"`,
    );
  }
}

/**
 * Three servers, a member of #dev and a lobby-only client on each. Members talk at once, from
 * the three servers, `each` messages apiece, then each says one line in the lobby. Returns
 * the #dev events every member got, in order, once every lobby line is in.
 */
async function talkInRoom(
  stack: AsyncDisposableStack,
  servers: ServerProcess[],
  each: number,
  warmUp: boolean,
): Promise<{ members: TestClient[]; outsiders: TestClient[]; seen: ChatEvent[][] }> {
  const members: TestClient[] = [];
  const outsiders: TestClient[] = [];
  for (const server of servers) {
    members.push(stack.use(await TestClient.connect(server.port)));
    outsiders.push(stack.use(await TestClient.connect(server.port)));
  }
  for (const member of members) assert.equal((await joinRoom(member, "#Dev")).room, "#dev");
  if (warmUp) {
    // One message first, seen everywhere before the rest are sent.
    await members[0].send(say("warm-up", "#dev", 1000n));
    for (const member of members) await receiveIn(member, "#dev", 1);
  }
  const before = warmUp ? 1 : 0;
  await Promise.all(members.map((member, i) => {
    const lines = Array.from(
      { length: each },
      (_, k) => say(`${i}/${k + 1}`, "#dev", BigInt(k + 1)),
    );
    return member.send(...lines, say("fence", "", 100n));
  }));
  const total = before + members.length * each;
  await Promise.all(members.map((member) => receiveIn(member, "#dev", total)));
  // Each sender's lobby line went out after its room messages: once a client has all three,
  // it has every room message it was ever going to get.
  for (const client of [...members, ...outsiders]) {
    const fences = await receiveIn(client, "", members.length);
    assert.ok(fences.every((event) => event.content === "fence"));
  }
  return { members, outsiders, seen: members.map((member) => chatsIn(member, "#dev")) };
}

Deno.test("cluster rooms - a room's messages reach its members on all three servers and no one else, numbered alike everywhere", async () => {
  const EACH = 10;
  await using cluster = await startCluster(3);
  await using stack = new AsyncDisposableStack();
  const { members, outsiders, seen } = await talkInRoom(stack, cluster.servers, EACH, true);

  const total = 1 + members.length * EACH;
  const senders = new Map(members.map((member, i) => [member.sessionId, String(i)]));
  for (const [i, events] of seen.entries()) {
    assert.deepEqual(
      events.map((event) => event.eventId),
      Array.from({ length: total }, (_, k) => BigInt(k + 1)),
      `event ids at member ${i}, no repeats`,
    );
    for (const event of events.slice(1)) {
      assert.equal(event.action, Action.BROADCAST);
      assert.equal(event.history, false);
      assert.equal(event.content, `${senders.get(event.fromSessionId)}/${event.clientSeq}`);
    }
    // Each sender's own messages in the order it sent them.
    for (const [id, index] of senders) {
      assert.deepEqual(
        events.slice(1).filter((event) => event.fromSessionId === id).map((event) => event.content),
        Array.from({ length: EACH }, (_, k) => `${index}/${k + 1}`),
      );
    }
  }
  // The same messages under the same ids, in the same order, on every server.
  const story = (events: ChatEvent[]) =>
    events.map((event) => `${event.eventId}:${event.fromSessionId}:${event.content}`);
  assert.deepEqual(story(seen[1]), story(seen[0]));
  assert.deepEqual(story(seen[2]), story(seen[0]));

  for (const outsider of outsiders) {
    assert.deepEqual(chatsIn(outsider, "#dev"), [], `outsider ${outsider.sessionId}`);
    assert.equal(chatsOf(outsider).length, members.length, "the lobby lines alone");
  }
});

Deno.test({
  name:
    "cluster rooms - the first messages of a new room, sent from three servers at once, come in id order everywhere",
  async fn() {
    const EACH = 10;
    await using cluster = await startCluster(3);
    await using stack = new AsyncDisposableStack();
    const { members, seen } = await talkInRoom(stack, cluster.servers, EACH, false);
    for (const [i, events] of seen.entries()) {
      assert.deepEqual(
        events.map((event) => event.eventId),
        Array.from({ length: members.length * EACH }, (_, k) => BigInt(k + 1)),
        `event ids at member ${i}`,
      );
    }
  },
});

Deno.test("cluster rooms - rooms and who count members across servers; JOINED and LEFT of a room reach the other servers", async () => {
  await using cluster = await startCluster(3);
  const [s1, s2, s3] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const alice = await connectAs(stack, s1, "alice");
  const bob = await connectAs(stack, s2, "bob");
  const carol = await connectAs(stack, s3, "carol");
  const dave = await connectAs(stack, s2, "dave");
  const everyone = [alice, bob, carol, dave];
  const nicknames = new Map([
    [alice.sessionId, "alice"],
    [bob.sessionId, "bob"],
    [carol.sessionId, "carol"],
    [dave.sessionId, "dave"],
  ]);

  await joinRoom(alice, "#dev");
  await joinRoom(bob, "#dev");
  // Bob's join on server 2 is announced to alice on server 1, with the room.
  const bobJoined = await presenceIn(alice, PresenceKind.JOINED, "#dev", bob.sessionId);
  assert.equal(bobJoined.nickname, "bob");
  await joinRoom(carol, "#dev");
  for (const member of [alice, bob]) {
    const joined = await presenceIn(member, PresenceKind.JOINED, "#dev", carol.sessionId);
    assert.equal(joined.nickname, "carol");
  }

  const inDev = [alice, bob, carol].map((client) => client.sessionId);
  for (const client of everyone) {
    await knowsInRoom(client, "", everyone.map((c) => c.sessionId), nicknames);
  }
  for (const member of [alice, bob, carol]) await knowsInRoom(member, "#dev", inDev);

  // Every server counts the room's members on all three, and dave (lobby only) is not one.
  for (const client of everyone) {
    const answer = await who(client, "#DEV");
    assert.equal(answer.room, "#dev");
    assert.deepEqual(
      answer.users.map((user) => user.nickname).toSorted(),
      ["alice", "bob", "carol"],
      `who #dev at ${nicknames.get(client.sessionId)}`,
    );
    assert.deepEqual(await rooms(client), [
      { name: "#lobby", members: 4 },
      { name: "#dev", members: 3 },
    ], `rooms at ${nicknames.get(client.sessionId)}`);
  }

  // Bob parts on server 2: alice (server 1) and carol (server 3) see him leave the room.
  const leftFrom = [alice, carol].map((client) => client.received.length);
  assert.equal((await ask(bob, part("#dev"), "parted")).room, "#dev");
  for (const [i, member] of [alice, carol].entries()) {
    const left = await presenceIn(member, PresenceKind.LEFT, "#dev", bob.sessionId, leftFrom[i]);
    assert.equal(left.nickname, "bob");
  }
  // A part is not a departure: nobody hears bob leave the lobby.
  for (const [i, member] of [alice, carol].entries()) {
    assert.equal(
      presences(member, leftFrom[i]).find((p) => p.kind === PresenceKind.LEFT && p.room === ""),
      undefined,
    );
  }
  for (const client of [alice, carol, dave]) {
    assert.deepEqual(
      (await who(client, "#dev")).users.map((user) => user.nickname).toSorted(),
      ["alice", "carol"],
    );
  }
  assert.deepEqual(await rooms(dave), [
    { name: "#lobby", members: 4 },
    { name: "#dev", members: 2 },
  ]);

  // Carol disconnects from server 3: alice, on server 1, sees her leave the room and the lobby.
  const aliceFrom = alice.received.length;
  await carol[Symbol.asyncDispose]();
  const goneFromDev = await presenceIn(
    alice,
    PresenceKind.LEFT,
    "#dev",
    carol.sessionId,
    aliceFrom,
  );
  assert.equal(goneFromDev.nickname, "carol");
  await presenceIn(alice, PresenceKind.LEFT, "", carol.sessionId, aliceFrom);
  // Bob, on server 2, is no longer in #dev: he hears carol leave the lobby only.
  await presenceIn(bob, PresenceKind.LEFT, "", carol.sessionId);
  assert.equal(
    presences(bob).find((p) => p.kind === PresenceKind.LEFT && p.room === "#dev"),
    undefined,
  );
  await presenceIn(dave, PresenceKind.LEFT, "", carol.sessionId);
  for (const client of [alice, bob]) {
    assert.deepEqual((await who(client, "#dev")).users.map((user) => user.nickname), ["alice"]);
  }
  for (const client of [alice, dave]) {
    assert.deepEqual(await rooms(client), [
      { name: "#lobby", members: 3 },
      { name: "#dev", members: 1 },
    ]);
  }
});

Deno.test("cluster rooms - a private message reaches a user on another server, and the sender's copy names them", async () => {
  await using cluster = await startCluster(3);
  const [s1, s2, s3] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const alice = await connectAs(stack, s1, "alice");
  const bob = await connectAs(stack, s2, "bob");
  const carol = await connectAs(stack, s3, "carol");
  const nicknames = new Map([
    [alice.sessionId, "alice"],
    [bob.sessionId, "bob"],
    [carol.sessionId, "carol"],
  ]);
  const ids = [...nicknames.keys()];
  for (const client of [alice, bob, carol]) await knowsInRoom(client, "", ids, nicknames);

  // Server 1 to server 2, the nickname in another case.
  await alice.send(privately("BOB", "psst", 3n));
  const [received] = await until(bob, () => {
    const events = chatsOf(bob).filter((event) => event.action === Action.PRIVATE);
    return events.length > 0 ? events : undefined;
  }, "bob's private message");
  assert.deepEqual(
    [received.content, received.fromNickname, received.fromSessionId, received.clientSeq],
    ["psst", "alice", alice.sessionId, 3n],
  );
  assert.deepEqual([received.eventId, received.room, received.toNickname], [0n, "", ""]);
  const [copy] = await until(alice, () => {
    const events = chatsOf(alice).filter((event) => event.action === Action.PRIVATE);
    return events.length > 0 ? events : undefined;
  }, "alice's copy");
  assert.deepEqual(
    [copy.content, copy.toNickname, copy.clientSeq, copy.eventId],
    ["psst", "bob", 3n, 0n],
  );

  // Server 3 to server 1.
  await carol.send(privately("alice", "hi alice", 7n));
  const reply = await until(
    alice,
    () => chatsOf(alice).find((event) => event.content === "hi alice"),
    "carol's private message at alice",
  );
  assert.deepEqual(
    [reply.action, reply.fromNickname, reply.toNickname],
    [Action.PRIVATE, "carol", ""],
  );
  const carolCopy = await until(
    carol,
    () => chatsOf(carol).find((event) => event.content === "hi alice"),
    "carol's copy",
  );
  assert.equal(carolCopy.toNickname, "alice");

  // A line in the lobby from each sender, after its private one: nobody else got those.
  await alice.send(say("fence from alice", "", 10n));
  await carol.send(say("fence from carol", "", 10n));
  for (const client of [alice, bob, carol]) await receiveIn(client, "", 2);
  assert.deepEqual(
    chatsOf(bob).map((event) => event.content).filter((c) => !c.startsWith("fence")),
    ["psst"],
  );
  assert.deepEqual(
    chatsOf(carol).map((event) => event.content).filter((c) => !c.startsWith("fence")),
    ["hi alice"],
  );
  assert.deepEqual(
    chatsOf(alice).map((event) => event.content).filter((c) => !c.startsWith("fence")),
    ["psst", "hi alice"],
  );
});

Deno.test("cluster rooms - a private message to a nickname nobody has anywhere: NO_SUCH_USER naming it", async () => {
  await using cluster = await startCluster(3);
  const [s1, s2, s3] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const alice = await connectAs(stack, s1, "alice");
  const bob = await connectAs(stack, s2, "bob");
  const gone = await connectAs(stack, s3, "gone");
  await knowsInRoom(alice, "", [bob.sessionId, gone.sessionId]);

  const error = await ask(alice, privately("nobody", "hello?", 4n), "error");
  assert.equal(error.code, ErrorCode.NO_SUCH_USER);
  assert.equal(error.fatal, false);
  assert.equal(error.clientSeq, 4n);
  assert.match(error.message, /"nobody"/);

  // A nickname whose owner has left server 3 is nobody's once server 1 has heard.
  const from = alice.received.length;
  await gone[Symbol.asyncDispose]();
  await presenceIn(alice, PresenceKind.LEFT, "", gone.sessionId, from);
  const after = await ask(alice, privately("gone", "still there?", 5n), "error");
  assert.deepEqual([after.code, after.clientSeq], [ErrorCode.NO_SUCH_USER, 5n]);
  assert.match(after.message, /"gone"/);
  // Nothing went anywhere.
  assert.deepEqual(chatsOf(bob), []);
  assert.deepEqual(chatsOf(alice), []);
});

Deno.test("cluster rooms - history written through server 1 is served by server 3, and a resume on another server gets exactly what was missed", async () => {
  await using cluster = await startCluster(3, ["--history-on-join", "3"]);
  const [s1, s2, s3] = cluster.servers;
  await using stack = new AsyncDisposableStack();
  const alice = stack.use(await TestClient.connect(s1.port));
  // Lobby only for now; each joins #dev later, on a server other than alice's.
  const bob = stack.use(await TestClient.connect(s3.port));
  const carolBefore = stack.use(await TestClient.connect(s2.port));
  await joinRoom(alice, "#dev");
  await alice.send(
    ...[1, 2, 3, 4, 5].map((n) => say(`m${n}`, "#dev", BigInt(n))),
    say("fence", "", 6n),
  );
  const sent = await receiveIn(alice, "#dev", 5);
  assert.deepEqual(sent.map((event) => event.eventId), [1n, 2n, 3n, 4n, 5n]);
  // Once servers 2 and 3 have alice's lobby line, they have read her room messages too: a
  // join now gets them as history alone, none of them live (which the protocol allows).
  await receiveIn(bob, "", 1);
  await receiveIn(carolBefore, "", 1);

  // A join on server 3 gets the last three, marked history, then RoomJoined.
  const joined = await joinRoom(bob, "#dev");
  const history = chatsIn(bob, "#dev");
  assert.deepEqual(history.map((event) => [event.content, event.eventId, event.history]), [
    ["m3", 3n, true],
    ["m4", 4n, true],
    ["m5", 5n, true],
  ]);
  assert.ok(history.every((event) => event.fromSessionId === alice.sessionId));
  assert.deepEqual(
    [joined.historyCount, joined.moreHistory, joined.historyUnavailable],
    [3, true, false],
  );
  // Older pages too, from server 3.
  const pageFrom = bob.received.length;
  const end: HistoryEnd = await ask(bob, historyRequest("#dev", 3n, 10), "historyEnd");
  assert.deepEqual([end.room, end.count, end.more, end.unavailable], ["#dev", 2, false, false]);
  assert.deepEqual(chatsIn(bob, "#dev", pageFrom).map((event) => event.content), ["m1", "m2"]);

  // Carol, on server 2, has seen up to m5 when she loses her connection.
  {
    await using carol = carolBefore;
    await joinRoom(carol, "#dev");
    assert.deepEqual(chatsIn(carol, "#dev").map((event) => event.eventId), [3n, 4n, 5n]);
  }
  await alice.send(...[6, 7, 8].map((n) => say(`m${n}`, "#dev", BigInt(n))));
  await receiveIn(alice, "#dev", 8);
  await receiveIn(bob, "#dev", 8);

  // She comes back on server 3 and resumes from 5: m6 to m8, nothing else.
  const carol = stack.use(await TestClient.connect(s3.port));
  const resumed = await ask(carol, join("#dev", true, 5n), "joined");
  const missed = chatsIn(carol, "#dev");
  assert.deepEqual(missed.map((event) => [event.content, event.eventId, event.history]), [
    ["m6", 6n, true],
    ["m7", 7n, true],
    ["m8", 8n, true],
  ]);
  assert.deepEqual(
    [resumed.historyCount, resumed.missed, resumed.historyUnavailable],
    [3, 0n, false],
  );
  // Live from then on, after the missed ones.
  await alice.send(say("m9", "#dev", 9n));
  const all = await receiveIn(carol, "#dev", 4);
  assert.deepEqual(all.map((event) => [event.eventId, event.history]), [
    [6n, true],
    [7n, true],
    [8n, true],
    [9n, false],
  ]);
});

/** Waits for a JSON log line of this event from line `from` on. */
async function logged(
  server: ServerProcess,
  event: string,
  from: number,
): Promise<Record<string, unknown>> {
  return JSON.parse(await server.stdout.waitFor(`"event":"${event}"`, WAIT_MS, from));
}

function countLogged(server: ServerProcess, event: string, from = 0, to?: number): number {
  return server.stdout.lines.slice(from, to).filter((line) => line.includes(`"event":"${event}"`))
    .length;
}

Deno.test("cluster rooms - Redis stopped: a room goes on among one server's clients without ids and history is unavailable; once back, ids resume", async () => {
  await using cluster = await startCluster(2);
  const { redis, servers: [s1, s2] } = cluster;
  await using stack = new AsyncDisposableStack();
  const a1 = stack.use(await TestClient.connect(s1.port));
  const a2 = stack.use(await TestClient.connect(s1.port));
  const b1 = stack.use(await TestClient.connect(s2.port));
  for (const client of [a1, a2, b1]) await joinRoom(client, "#dev");
  await knowsInRoom(a1, "#dev", [b1.sessionId]);
  await a1.send(say("before", "#dev", 1n));
  for (const client of [a1, a2, b1]) {
    const [event] = await receiveIn(client, "#dev", 1);
    assert.deepEqual([event.content, event.eventId], ["before", 1n]);
  }

  const from = [s1, s2].map((server) => server.stdout.lines.length);
  await redis.kill();
  for (const [i, server] of [s1, s2].entries()) {
    await logged(server, "redis_lost", from[i]);
    const failing = await logged(server, "history_failing", from[i]);
    assert.equal(failing.level, "warn");
  }

  // Live chat in the room goes on between a1 and a2, on server 1, without ids.
  const a2From = a2.received.length;
  await a1.send(say("during 1", "#dev", 2n));
  const [during1] = await receiveIn(a2, "#dev", 1, a2From);
  assert.deepEqual([during1.content, during1.eventId, during1.history], ["during 1", 0n, false]);
  assert.equal((await receiveIn(a1, "#dev", 2))[1].eventId, 0n);

  // History cannot be read: a page says so, and so does a join, which still joins.
  const end = await ask(a2, historyRequest("#dev"), "historyEnd");
  assert.deepEqual([end.room, end.unavailable, end.count], ["#dev", true, 0]);
  const c1 = stack.use(await TestClient.connect(s1.port));
  const joined = await joinRoom(c1, "#dev");
  assert.deepEqual([joined.room, joined.historyUnavailable, joined.historyCount], [
    "#dev",
    true,
    0,
  ]);
  assert.deepEqual(chatsOf(c1), [], "no history while it is unavailable");
  // The newcomer is a member: the next line reaches it, live.
  await a2.send(say("during 2", "#dev", 1n));
  const [during2] = await receiveIn(c1, "#dev", 1);
  assert.deepEqual([during2.content, during2.eventId], ["during 2", 0n]);
  await receiveIn(a1, "#dev", 3);
  // Rooms are still listed, from what the server knows.
  assert.ok((await rooms(c1)).some((room) => room.name === "#dev"));
  // A private message to a user of the other server cannot go: refused, not held.
  const refused = await ask(a1, privately(b1.welcome.nickname, "psst", 9n), "error");
  assert.deepEqual([refused.code, refused.clientSeq, refused.fatal], [
    ErrorCode.UNAVAILABLE,
    9n,
    false,
  ]);

  const back = [s1, s2].map((server) => server.stdout.lines.length);
  await redis.restart();
  for (const [i, server] of [s1, s2].entries()) {
    await server.stdout.waitFor("joined the cluster", WAIT_MS, back[i]);
    await logged(server, "history_recovered", back[i]);
    // One warning for the whole outage, however many appends and reads failed.
    assert.equal(countLogged(server, "history_failing", from[i]), 1, `server ${i + 1}`);
  }
  // What server 1 said during the outage reaches server 2 afterwards, still without ids.
  const late = await receiveIn(b1, "#dev", 3);
  assert.deepEqual(late.map((event) => [event.content, event.eventId]), [
    ["before", 1n],
    ["during 1", 0n],
    ["during 2", 0n],
  ]);

  // Numbered again, alike on both servers: one from each, the second once the first is in.
  const afterFrom = new Map([a1, a2, b1, c1].map((client) => [client, client.received.length]));
  await a1.send(say("after 1", "#dev", 3n));
  for (const client of [a1, a2, b1, c1]) await receiveIn(client, "#dev", 1, afterFrom.get(client));
  await b1.send(say("after 2", "#dev", 2n));
  const numbered = await Promise.all(
    [a1, a2, b1, c1].map((client) => receiveIn(client, "#dev", 2, afterFrom.get(client))),
  );
  for (const events of numbered) {
    assert.deepEqual(events.map((event) => event.content), ["after 1", "after 2"]);
    assert.ok(events[0].eventId > 0n, `ids ${events.map((event) => event.eventId)}`);
    assert.equal(events[1].eventId, events[0].eventId + 1n);
    assert.deepEqual(
      events.map((event) => event.eventId),
      numbered[0].map((event) => event.eventId),
    );
  }
  const page = await ask(c1, historyRequest("#dev"), "historyEnd");
  assert.deepEqual([page.unavailable, page.count], [false, 2]);

  // Nothing crashed: both servers still run, and logged no unexpected error.
  for (const server of [s1, s2]) {
    assert.equal(countLogged(server, "unexpected"), 0, server.stdout.text);
    assert.equal(server.stderr.text.trim(), "");
  }
});

Deno.test({
  name:
    "cluster rooms - after Redis restarts empty, a room's ids go on past those given out before",
  async fn() {
    await using cluster = await startCluster(2);
    const { redis, servers: [s1, s2] } = cluster;
    await using stack = new AsyncDisposableStack();
    const a = stack.use(await TestClient.connect(s1.port));
    const b = stack.use(await TestClient.connect(s2.port));
    for (const client of [a, b]) await joinRoom(client, "#dev");
    await a.send(...[1, 2, 3].map((n) => say(`before ${n}`, "#dev", BigInt(n))));
    for (const client of [a, b]) await receiveIn(client, "#dev", 3);

    const from = [s1, s2].map((server) => server.stdout.lines.length);
    await redis.kill();
    for (const [i, server] of [s1, s2].entries()) {
      await logged(server, "history_failing", from[i]);
    }
    const back = [s1, s2].map((server) => server.stdout.lines.length);
    await redis.restart();
    for (const [i, server] of [s1, s2].entries()) {
      await server.stdout.waitFor("joined the cluster", WAIT_MS, back[i]);
      await logged(server, "history_recovered", back[i]);
    }
    await a.send(say("after", "#dev", 4n));
    for (const client of [a, b]) {
      const after = (await receiveIn(client, "#dev", 4))[3];
      assert.equal(after.content, "after");
      assert.ok(after.eventId > 3n, `${after.eventId}n > 3n`);
    }
  },
});
