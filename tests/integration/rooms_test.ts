import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import type { ClientMessageInit } from "../../lib/protocol/codec.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

const say = (content: string, room = "", clientSeq = 1n): ClientMessageInit => ({
  body: { case: "chat", value: { content, action: Action.BROADCAST, room, clientSeq } },
});
const join = (room: string, resume = false, lastEventId = 0n): ClientMessageInit => ({
  body: { case: "join", value: { room, resume, lastEventId } },
});
const part = (room: string): ClientMessageInit => ({ body: { case: "part", value: { room } } });
const privately = (toNickname: string, content: string, clientSeq = 1n): ClientMessageInit => ({
  body: { case: "chat", value: { content, action: Action.PRIVATE, toNickname, clientSeq } },
});
const hello = (nickname: string): ClientMessageInit => ({
  body: { case: "hello", value: { nickname } },
});

/** Connects and takes a nickname, waiting for the server's confirmation. */
async function connectAs(port: number, nickname: string): Promise<TestClient> {
  const client = await TestClient.connect(port);
  await client.send(hello(nickname));
  await client.nextMatching((m) =>
    m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED &&
    m.body.value.sessionId === client.sessionId
  );
  return client;
}

Deno.test("rooms - a room's messages reach its members only, with the room and an event id", async () => {
  await using server = await ServerProcess.start();
  await using alice = await connectAs(server.port, "alice");
  await using bob = await connectAs(server.port, "bob");
  await using carol = await connectAs(server.port, "carol");
  await alice.send(join("#Dev"));
  const joined = await alice.next("joined");
  assert.equal(joined.room, "#dev");
  assert.equal(joined.members, 1);
  await bob.send(join("#dev"));
  assert.equal((await bob.next("joined")).members, 2);
  const arrival = await alice.nextMatching((m) =>
    m.body.case === "presence" && m.body.value.kind === PresenceKind.JOINED &&
    m.body.value.room === "#dev"
  );
  assert.equal(arrival.body.case === "presence" && arrival.body.value.nickname, "bob");

  await alice.send(say("in dev", "#DEV", 5n));
  await alice.send(say("in the lobby", "", 6n));
  for (const member of [alice, bob]) {
    // In the order sent, though they went to two rooms.
    const [dev, lobby] = await member.take("chat", 2);
    assert.deepEqual([dev.content, dev.room, dev.eventId, dev.history], [
      "in dev",
      "#dev",
      1n,
      false,
    ]);
    assert.deepEqual([lobby.content, lobby.room], ["in the lobby", ""]);
  }
  // Carol is in the lobby only: the lobby's message reaches her, the room's does not.
  assert.equal((await carol.next("chat")).content, "in the lobby");
  assert.equal(carol.received.filter((m) => m.body.case === "chat").length, 1);
});

Deno.test("rooms - sending to a room one is not in, or a bad name, is refused with its own code", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  await alice.send(say("hi", "#elsewhere", 9n));
  const notIn = await alice.next("error");
  assert.equal(notIn.code, ErrorCode.NOT_IN_ROOM);
  assert.equal(notIn.clientSeq, 9n);
  assert.match(notIn.message, /#elsewhere/);
  await alice.send(join("#no spaces"));
  const invalid = await alice.next("error");
  assert.equal(invalid.code, ErrorCode.ROOM_INVALID);
  assert.match(invalid.message, /"#no spaces" is not valid/);
  await alice.send(join("#" + "x".repeat(33)));
  assert.equal((await alice.next("error")).code, ErrorCode.ROOM_INVALID);
  await alice.send(part("#dev"));
  assert.equal((await alice.next("error")).code, ErrorCode.NOT_IN_ROOM);
});

Deno.test("rooms - a session may be in 50 rooms, the lobby included", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  for (let n = 1; n < 50; n++) await alice.send(join(`#room-${n}`));
  await alice.take("joined", 49);
  await alice.send(join("#one-too-many"));
  const error = await alice.next("error");
  assert.equal(error.code, ErrorCode.TOO_MANY_ROOMS);
  assert.match(error.message, /50 rooms/);
  await alice.send(part("#room-1"));
  assert.equal((await alice.next("parted")).room, "#room-1");
  await alice.send(join("#one-too-many"));
  assert.equal((await alice.next("joined")).room, "#one-too-many");
});

Deno.test("rooms - parting leaves the room: the others see LEFT, and its messages stop", async () => {
  await using server = await ServerProcess.start();
  await using alice = await connectAs(server.port, "alice");
  await using bob = await connectAs(server.port, "bob");
  await alice.send(join("#dev"));
  await alice.next("joined");
  await bob.send(join("#dev"));
  await bob.next("joined");
  await bob.send(part("#dev"));
  assert.equal((await bob.next("parted")).room, "#dev");
  const left = await alice.nextPresence(PresenceKind.LEFT);
  assert.deepEqual(
    [left.room, left.nickname],
    ["#dev", "bob"],
    "the lobby's LEFT comes only at a disconnect",
  );
  await alice.send(say("anyone?", "#dev"));
  await alice.next("chat");
  await alice.send(say("lobby", ""));
  assert.equal((await bob.next("chat")).content, "lobby");
});

Deno.test("rooms - /rooms lists rooms by members, and who answers for one room", async () => {
  await using server = await ServerProcess.start();
  await using alice = await connectAs(server.port, "alice");
  await using bob = await connectAs(server.port, "bob");
  for (const client of [alice, bob]) {
    await client.send(join("#big"));
    await client.next("joined");
  }
  await alice.send(join("#small"));
  await alice.next("joined");
  await alice.send({ body: { case: "rooms", value: {} } });
  const rooms = await alice.next("rooms");
  assert.deepEqual(
    rooms.rooms.map(({ name, members }) => ({ name, members })),
    [{ name: "#big", members: 2 }, { name: "#lobby", members: 2 }, {
      name: "#small",
      members: 1,
    }],
  );
  await bob.send({ body: { case: "who", value: { room: "#small" } } });
  const who = await bob.next("who");
  assert.equal(who.room, "#small");
  assert.deepEqual(who.users.map((user) => user.nickname), ["alice"]);
});

Deno.test("private messages - reach the one user, and the sender gets a copy naming them", async () => {
  await using server = await ServerProcess.start();
  await using alice = await connectAs(server.port, "alice");
  await using bob = await connectAs(server.port, "bob");
  await using carol = await connectAs(server.port, "carol");
  await alice.send(privately("BOB", "psst", 3n));
  const received = await bob.next("chat");
  assert.equal(received.action, Action.PRIVATE);
  assert.equal(received.content, "psst");
  assert.equal(received.fromNickname, "alice");
  assert.equal(received.eventId, 0n);
  const copy = await alice.next("chat");
  assert.equal(copy.action, Action.PRIVATE);
  assert.equal(copy.toNickname, "bob");
  assert.equal(copy.clientSeq, 3n);
  await alice.send(say("after", ""));
  await carol.next("chat");
  assert.equal(carol.received.filter((m) => m.body.case === "chat").length, 1);
});

Deno.test("private messages - to a nickname nobody has: NO_SUCH_USER naming it", async () => {
  await using server = await ServerProcess.start();
  await using alice = await connectAs(server.port, "alice");
  await alice.send(privately("nobody", "hello?", 4n));
  const error = await alice.next("error");
  assert.equal(error.code, ErrorCode.NO_SUCH_USER);
  assert.equal(error.clientSeq, 4n);
  assert.match(error.message, /"nobody"/);
});

Deno.test("history - a join gets the room's last messages, marked history, then RoomJoined", async () => {
  await using server = await ServerProcess.start(["--history-on-join", "3"]);
  await using alice = await TestClient.connect(server.port);
  await alice.send(join("#dev"));
  await alice.next("joined");
  for (let n = 1; n <= 5; n++) await alice.send(say(`message ${n}`, "#dev"));
  await alice.take("chat", 5);
  await using bob = await TestClient.connect(server.port);
  await bob.send(join("#dev"));
  const history = await bob.take("chat", 3);
  assert.deepEqual(history.map((event) => [event.content, event.eventId, event.history]), [
    ["message 3", 3n, true],
    ["message 4", 4n, true],
    ["message 5", 5n, true],
  ]);
  assert.ok(history.every((event) => event.sentAtUnixMs > 0n && event.room === "#dev"));
  const joined = await bob.next("joined");
  assert.equal(joined.historyCount, 3);
  assert.equal(joined.moreHistory, true);
  // Older pages, before the oldest one shown.
  await bob.send({
    body: { case: "history", value: { room: "#dev", beforeEventId: 3n, count: 10 } },
  });
  const older = await bob.take("chat", 2);
  assert.deepEqual(older.map((event) => event.eventId), [1n, 2n]);
  const end = await bob.next("historyEnd");
  assert.deepEqual([end.room, end.count, end.more], ["#dev", 2, false]);
});

Deno.test("history - the lobby's history comes to a client that asks, and never to one that does not", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  await alice.send(say("before bob", ""));
  await alice.next("chat");
  await using bob = await TestClient.connect(server.port);
  await using carol = await TestClient.connect(server.port);
  await bob.send(join("#lobby"));
  const history = await bob.next("chat");
  assert.equal(history.content, "before bob");
  assert.equal(history.history, true);
  assert.equal((await bob.next("joined")).room, "#lobby");
  // Carol knows nothing of rooms: a later message proves nothing older came to her.
  await alice.send(say("live", ""));
  assert.equal((await carol.next("chat")).content, "live");
  assert.equal(carol.received.filter((m) => m.body.case === "chat").length, 1);
});

Deno.test("history - a resume gets exactly what was missed, and how many are lost", async () => {
  await using server = await ServerProcess.start(["--history-size", "5"]);
  await using alice = await TestClient.connect(server.port);
  await alice.send(join("#dev"));
  await alice.next("joined");
  for (let n = 1; n <= 3; n++) await alice.send(say(`m${n}`, "#dev"));
  await alice.take("chat", 3);
  {
    await using bob = await TestClient.connect(server.port);
    await bob.send(join("#dev", true, 1n));
    const missed = await bob.take("chat", 2);
    assert.deepEqual(missed.map((event) => event.content), ["m2", "m3"]);
    const joined = await bob.next("joined");
    assert.equal(joined.missed, 0n);
  }
  for (let n = 4; n <= 9; n++) await alice.send(say(`m${n}`, "#dev"));
  await alice.take("chat", 6);
  await using carol = await TestClient.connect(server.port);
  await carol.send(join("#dev", true, 2n));
  const kept = await carol.take("chat", 5);
  assert.deepEqual(kept.map((event) => event.eventId), [5n, 6n, 7n, 8n, 9n]);
  const joined = await carol.next("joined");
  assert.equal(joined.missed, 2n, "m3 and m4 are no longer kept");
});

Deno.test("history - survives a restart of the server (SQLite file in --data-dir)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "chat-data-" });
  const launcher = [
    Deno.execPath(),
    "run",
    "--allow-net",
    `--allow-read=${dataDir}`,
    `--allow-write=${dataDir}`,
    new URL("../../server.ts", import.meta.url).pathname,
  ];
  try {
    {
      await using server = await ServerProcess.start(["--data-dir", dataDir], launcher);
      await using alice = await TestClient.connect(server.port);
      await alice.send(say("remember me", ""));
      await alice.next("chat");
      assert.equal((await server.stop()).code, 0);
    }
    await using server = await ServerProcess.start(["--data-dir", dataDir], launcher);
    await using bob = await TestClient.connect(server.port);
    await bob.send(join("#lobby"));
    const event = await bob.next("chat");
    assert.deepEqual([event.content, event.eventId, event.history], ["remember me", 1n, true]);
    await bob.send(say("and me", ""));
    assert.equal((await bob.next("chat")).eventId, 2n, "ids go on after a restart");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("history - a resume past the room's newest id (its history was lost) gets all the room has, and its last id", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  await alice.send(join("#dev"));
  await alice.next("joined");
  for (let n = 1; n <= 2; n++) await alice.send(say(`new ${n}`, "#dev"));
  await alice.take("chat", 2);
  await using bob = await TestClient.connect(server.port);
  // Bob saw up to id 40 in an earlier life of the room.
  await bob.send(join("#dev", true, 40n));
  const events = await bob.take("chat", 2);
  assert.deepEqual(events.map((event) => event.eventId), [1n, 2n]);
  const joined = await bob.next("joined");
  assert.deepEqual([joined.lastEventId, joined.missed], [2n, 0n]);
});

Deno.test("history - a client resuming two rooms of 4 MB each at once gets it all, at its pace, and is not cut", async () => {
  await using server = await ServerProcess.start(["--rate-limit", "0"]);
  await using alice = await TestClient.connect(server.port);
  const big = "x".repeat(4000);
  for (const room of ["#big", "#big2"]) {
    await alice.send(join(room));
    await alice.next("joined");
    for (let n = 1; n <= 1000; n++) await alice.send(say(big, room, BigInt(n)));
    await alice.take("chat", 1000, 60_000);
  }
  await using bob = await TestClient.connect(server.port);
  // As our clients resume after a reconnect: every room in one write.
  await bob.send(join("#big", true, 0n), join("#big2", true, 0n));
  const history = await bob.take("chat", 2000, 60_000);
  assert.ok(history.every((event) => event.history && event.content === big));
  // Each room's history, then its RoomJoined (take() passed over those).
  await bob.nextMatching((m) => m.body.case === "joined" && m.body.value.room === "#big2");
  const order = bob.received.flatMap((m) =>
    m.body.case === "joined" ? [m.body.value.room] : m.body.case === "chat" ? ["chat"] : []
  );
  assert.deepEqual(order.filter((entry) => entry !== "chat"), ["#big", "#big2"]);
  assert.equal(order.indexOf("#big"), 1000);
  assert.equal(bob.received.filter((m) => m.body.case === "error").length, 0);
});
