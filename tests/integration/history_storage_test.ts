// A server alone whose history storage fails (issue 15): real server processes, raw
// protocol clients. Storage is made to fail with a real SQLITE_BUSY: the test holds the
// history file's write lock from a connection of its own (node:sqlite, BEGIN EXCLUSIVE).
// Unlike a read-only folder, that works when the tests run as root, as on a fresh CI machine.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Action, type ChatEvent, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import type { ClientMessageInit } from "../../lib/protocol/codec.ts";
import { ServerProcess } from "../support/server_process.ts";
import { startWithHttp } from "../support/server_with_http.ts";
import { TestClient } from "../support/test_client.ts";
import { until } from "../support/until.ts";
import { launcherFor, tempDir } from "../support/data_dir.ts";

const HISTORY_FILE = "history.sqlite3";
/** The server's lock on its data folder: the one other file it keeps there. */
const LOCK_FILE = "server.lock";
/** Long enough for a server to retry a failed write (once a second) and log it. */
const WAIT_MS = 10_000;

const say = (content: string, room = "", clientSeq = 1n): ClientMessageInit => ({
  body: { case: "chat", value: { content, action: Action.BROADCAST, room, clientSeq } },
});
const joinRoom = (room: string, resume = false, lastEventId = 0n): ClientMessageInit => ({
  body: { case: "join", value: { room, resume, lastEventId } },
});
const historyRequest = (room: string, beforeEventId = 0n, count = 0): ClientMessageInit => ({
  body: { case: "history", value: { room, beforeEventId, count } },
});

async function listDir(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

type Case = NonNullable<ServerMessage["body"]["case"]>;
type BodyOf<C extends Case> = Extract<ServerMessage["body"], { case: C }>["value"];

/** Sends a request and waits for its answer of this kind; also returns the chats before it. */
async function ask<C extends Case>(
  client: TestClient,
  request: ClientMessageInit,
  kind: C,
): Promise<{ answer: BodyOf<C>; chats: ChatEvent[] }> {
  const from = client.received.length;
  await client.send(request);
  const index = await until(client, () => {
    const found = client.received.findIndex((m, i) => i >= from && m.body.case === kind);
    return found === -1 ? undefined : found;
  }, `${kind} at ${client.sessionId}`);
  const chats = client.received.slice(from, index).flatMap((m) =>
    m.body.case === "chat" ? [m.body.value] : []
  );
  return { answer: client.received[index].body.value as BodyOf<C>, chats };
}

/** The live chat events of a room (history aside) the client received. */
function chatsIn(client: TestClient, room: string, from = 0): ChatEvent[] {
  return client.received.slice(from).flatMap((m) =>
    m.body.case === "chat" && m.body.value.room === room && !m.body.value.history
      ? [m.body.value]
      : []
  );
}

/** Waits for the client's `count`th live chat of the room from index `from` on. */
async function nthChat(
  client: TestClient,
  room: string,
  count: number,
  from = 0,
): Promise<ChatEvent> {
  const events = await until(client, () => {
    const events = chatsIn(client, room, from);
    return events.length >= count ? events : undefined;
  }, `${count} chats in "${room}" at ${client.sessionId}`);
  return events[count - 1];
}

function loggedEvents(server: ServerProcess, event: string, from = 0, to?: number): string[] {
  return server.stdout.lines.slice(from, to).filter((line) => line.includes(`"event":"${event}"`));
}

/** A Prometheus sample's value, or undefined when the metric is absent. */
function sample(metrics: string, name: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function metricsOf(httpPort: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  assert.equal(response.status, 200);
  return await response.text();
}

/**
 * Holds the history file's write lock, as another process could, until disposed: the
 * server's writes then fail with SQLITE_BUSY, whoever runs the test.
 */
function lockHistory(dir: string): Disposable {
  const db = new DatabaseSync(join(dir, HISTORY_FILE));
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    db.close();
    throw error;
  }
  return {
    [Symbol.dispose]: () => {
      if (db.isTransaction) db.exec("COMMIT");
      db.close();
    },
  };
}

Deno.test("history storage - a locked history file: live chat goes on, the failure is logged once, history is unavailable until it recovers", async () => {
  await using dir = await tempDir("chat-history-storage-");
  const { server, httpPort } = await startWithHttp(
    ["--data-dir", dir.path, "--log-format", "json", "--quiet"],
    launcherFor(dir.path),
  );
  await using _server = server;
  await using alice = await TestClient.connect(server.port);
  await using bob = await TestClient.connect(server.port);
  for (const client of [alice, bob]) await ask(client, joinRoom("#dev"), "joined");

  await alice.send(say("kept", "#dev", 1n));
  assert.equal((await nthChat(bob, "#dev", 1)).eventId, 1n);
  // A read writes what is pending first: "kept" is in the file before the lock is taken.
  const first = await ask(bob, historyRequest("#dev"), "historyEnd");
  assert.deepEqual([first.answer.count, first.answer.unavailable], [1, false]);
  let metrics = await metricsOf(httpPort);
  assert.equal(sample(metrics, "chat_history_up"), 1);

  const from = server.stdout.lines.length;
  {
    using _lock = lockHistory(dir.path);

    // Live chat goes on, numbered still (the server gives ids out), while writes fail.
    await alice.send(say("lost 1", "#dev", 2n));
    const lost1 = await nthChat(bob, "#dev", 2);
    assert.deepEqual([lost1.content, lost1.eventId, lost1.history], ["lost 1", 2n, false]);
    const failing = JSON.parse(
      await server.stdout.waitFor(/"event":"history_failing"/, WAIT_MS, from),
    );
    assert.equal(failing.level, "warn");
    assert.equal(failing.path, join(dir.path, HISTORY_FILE));
    assert.match(failing.message, /^history: cannot write to .*history\.sqlite3 \(.+\)/);
    assert.match(failing.reason, /locked|busy/i);

    // A history page says it is unavailable, and sends nothing.
    await alice.send(say("lost 2", "#dev", 3n));
    await nthChat(bob, "#dev", 3);
    const page = await ask(bob, historyRequest("#dev"), "historyEnd");
    assert.deepEqual(
      [page.answer.room, page.answer.unavailable, page.answer.count, page.chats.length],
      ["#dev", true, 0, 0],
    );
    // A join joins, without history, and says why.
    await using carol = await TestClient.connect(server.port);
    const joined = await ask(carol, joinRoom("#dev"), "joined");
    assert.deepEqual(
      [joined.answer.room, joined.answer.historyUnavailable, joined.answer.historyCount],
      ["#dev", true, 0],
    );
    assert.deepEqual(joined.chats, []);
    // ...and carol is a member: the next line reaches her live.
    await alice.send(say("lost 3", "#dev", 4n));
    const lost3 = await nthChat(carol, "#dev", 1);
    assert.deepEqual([lost3.content, lost3.eventId], ["lost 3", 4n]);
    // Another read, which tries (and fails) to write "lost 3" first.
    const again = await ask(bob, historyRequest("#dev"), "historyEnd");
    assert.equal(again.answer.unavailable, true);
    // The lobby, and the rooms list, go on too.
    await alice.send(say("hello lobby", "", 5n));
    assert.equal((await nthChat(carol, "", 1)).content, "hello lobby");
    const rooms = await ask(carol, { body: { case: "rooms", value: {} } }, "rooms");
    assert.ok(rooms.answer.rooms.some((room) => room.name === "#dev" && room.members === 3));

    // Metrics and the stats line show it.
    metrics = await metricsOf(httpPort);
    assert.equal(sample(metrics, "chat_history_up"), 0);
    assert.ok(sample(metrics, 'chat_history_messages_total{outcome="lost"}')! >= 3, metrics);
    assert.ok(sample(metrics, "chat_history_failures_total")! >= 3, metrics);
    const stats = await server.stats() as unknown as Record<string, string | number>;
    assert.equal(stats.history, "failing");
    assert.ok((stats.history_lost as number) >= 3, JSON.stringify(stats));
  }

  // The lock is gone: the next write goes through, and history is served again, with holes
  // where the outage's messages were (ids are per room: the lobby's line took none of #dev's).
  await alice.send(say("after", "#dev", 6n));
  assert.equal((await nthChat(bob, "#dev", 5)).eventId, 5n);
  const recovered = await ask(bob, historyRequest("#dev"), "historyEnd");
  assert.deepEqual([recovered.answer.unavailable, recovered.answer.count], [false, 2]);
  assert.deepEqual(recovered.chats.map((event) => [event.content, event.eventId, event.history]), [
    ["kept", 1n, true],
    ["after", 5n, true],
  ]);
  const line = JSON.parse(
    await server.stdout.waitFor(/"event":"history_recovered"/, WAIT_MS, from),
  );
  assert.equal(line.level, "notice");
  const recoveredAt = server.stdout.lines.findIndex((l, i) =>
    i >= from && l.includes('"event":"history_recovered"')
  );
  // Logged once for the whole outage, however many writes and reads failed.
  assert.equal(loggedEvents(server, "history_failing", from, recoveredAt).length, 1);
  metrics = await metricsOf(httpPort);
  assert.equal(sample(metrics, "chat_history_up"), 1);

  // A resume from "kept" gets "after", and counts the three the outage lost as missed.
  await using dave = await TestClient.connect(server.port);
  const resumed = await ask(dave, joinRoom("#dev", true, 1n), "joined");
  assert.deepEqual(resumed.chats.map((event) => event.content), ["after"]);
  assert.equal(resumed.answer.missed, 3n);
  assert.equal(loggedEvents(server, "unexpected").length, 0);
  assert.equal(server.stderr.text.trim(), "");
});

/** Runs the server on `dir` to its exit, expecting it to refuse to start. */
async function refusedStart(
  dir: string,
): Promise<{ code: number; stderr: string; stdout: string }> {
  return await ServerProcess.run(
    ["--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dir],
    launcherFor(dir),
  );
}

/** A file of random bytes that cannot pass for an SQLite header. */
function randomBytes(length: number): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  bytes[0] = 0; // "SQLite format 3" starts with "S".
  return bytes;
}

Deno.test("history storage - a history file of random bytes: the server refuses to start with one line, and leaves it as it was", async () => {
  for (const content of [randomBytes(8192), randomBytes(50), new TextEncoder().encode("hello\n")]) {
    await using dir = await tempDir("chat-history-storage-");
    const path = join(dir.path, HISTORY_FILE);
    await Deno.writeFile(path, content);
    const run = await refusedStart(dir.path);
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(run.stderr.trimEnd().split("\n"), [
      `Cannot open history file ${path}: file is not a database`,
    ]);
    assert.doesNotMatch(run.stdout, /listening on/);
    assert.deepEqual(await Deno.readFile(path), content, "byte for byte");
    assert.deepEqual(
      (await listDir(dir.path)).filter((name) => name !== LOCK_FILE),
      [HISTORY_FILE],
      "no -wal, -shm or -journal beside it",
    );
  }
});

Deno.test("history storage - another application's SQLite database: the server refuses to start with one line, and leaves it as it was", async () => {
  for (const applicationId of [0, 0x12345678]) {
    await using dir = await tempDir("chat-history-storage-");
    const path = join(dir.path, HISTORY_FILE);
    const other = new DatabaseSync(path);
    other.exec(`PRAGMA application_id = ${applicationId}`);
    other.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')");
    other.close();
    const before = await Deno.readFile(path);
    const run = await refusedStart(dir.path);
    assert.equal(run.code, 1, run.stderr);
    const hex = applicationId.toString(16).padStart(8, "0");
    assert.deepEqual(run.stderr.trimEnd().split("\n"), [
      `Cannot open history file ${path}: it is not a chat history database (application_id 0x${hex})`,
    ]);
    assert.doesNotMatch(run.stdout, /listening on/);
    assert.deepEqual(await Deno.readFile(path), before, "byte for byte");
    assert.deepEqual((await listDir(dir.path)).filter((name) => name !== LOCK_FILE), [
      HISTORY_FILE,
    ]);
  }
});

Deno.test("history storage - a history file from a newer server: refused with one line, and left as it was", async () => {
  await using dir = await tempDir("chat-history-storage-");
  const path = join(dir.path, HISTORY_FILE);
  const newer = new DatabaseSync(path);
  newer.exec("PRAGMA application_id = 1128808788"); // 0x43484154, "CHAT"
  newer.exec("PRAGMA user_version = 99");
  newer.exec("CREATE TABLE future (x)");
  newer.close();
  const before = await Deno.readFile(path);
  const run = await refusedStart(dir.path);
  assert.equal(run.code, 1, run.stderr);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], new RegExp(`^Cannot open history file ${path}: .*newer server`));
  assert.deepEqual(await Deno.readFile(path), before, "byte for byte");
});

Deno.test("history storage - --history-size 0: no history and no file, and rooms still work", async () => {
  await using dir = await tempDir("chat-history-storage-");
  const dataDir = join(dir.path, "data");
  await using server = await ServerProcess.start(
    ["--data-dir", dataDir, "--history-size", "0"],
    launcherFor(dir.path),
  );
  await using alice = await TestClient.connect(server.port);
  await using bob = await TestClient.connect(server.port);
  for (const client of [alice, bob]) {
    const { answer } = await ask(client, joinRoom("#dev"), "joined");
    assert.deepEqual([answer.historyCount, answer.historyUnavailable], [0, false]);
  }
  await alice.send(say("not kept", "#dev", 1n), say("nor this", "", 2n));
  const inRoom = await nthChat(bob, "#dev", 1);
  assert.deepEqual([inRoom.content, inRoom.eventId], ["not kept", 0n]);
  const inLobby = await nthChat(bob, "", 1);
  assert.deepEqual([inLobby.content, inLobby.eventId], ["nor this", 0n]);

  // A newcomer gets no history; a page is empty, not unavailable; a resume has nothing.
  await using carol = await TestClient.connect(server.port);
  const joined = await ask(carol, joinRoom("#dev"), "joined");
  assert.deepEqual(joined.chats, []);
  assert.deepEqual(
    [joined.answer.members, joined.answer.historyCount, joined.answer.moreHistory],
    [3, 0, false],
  );
  const page = await ask(carol, historyRequest("#dev"), "historyEnd");
  assert.deepEqual([page.answer.count, page.answer.more, page.answer.unavailable, page.chats], [
    0,
    false,
    false,
    [],
  ]);
  await using dave = await TestClient.connect(server.port);
  const resumed = await ask(dave, joinRoom("#dev", true, 1n), "joined");
  assert.deepEqual([resumed.chats, resumed.answer.missed], [[], 0n]);
  // Still a room: carol hears the next line.
  await alice.send(say("live", "#dev", 3n));
  assert.equal((await nthChat(carol, "#dev", 1)).content, "live");

  assert.equal((await server.stop()).code, 0);
  assert.deepEqual(await listDir(dir.path), [], "not even the data folder was made");
});
