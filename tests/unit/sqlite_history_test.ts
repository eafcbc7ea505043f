import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  HistoryFileCorruptError,
  HistoryFileForeignError,
  HistoryFileVersionError,
} from "../../lib/server/errors.ts";
import { HistoryUnavailableError } from "../../lib/server/history/history_store.ts";
import { HISTORY_APPLICATION_ID, HISTORY_FILE_NAME } from "../../lib/server/chat_database.ts";
import {
  SqliteHistory,
  type SqliteHistoryOptions,
} from "../../lib/server/history/sqlite_history.ts";
import type { LogLevel } from "../../lib/server/logger.ts";

const DAY_MS = 86_400_000;
const encoder = new TextEncoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sqlite_history_test_" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function open(
  dir: string,
  options: Partial<SqliteHistoryOptions> = {},
  logger = new LogRecorder(),
) {
  return SqliteHistory.open({ dataDir: dir, ...options }, logger);
}

class LogRecorder {
  readonly entries: { level: LogLevel; event: string; message: string }[] = [];
  log(level: LogLevel, event: string, message: string): void {
    this.entries.push({ level, event, message });
  }
  count(event: string): number {
    return this.entries.filter((entry) => entry.event === event).length;
  }
}

/** Waits until `condition` holds, failing after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function ids(events: { eventId: bigint }[]): number[] {
  return events.map((event) => Number(event.eventId));
}

/** Rows in the file, read by a connection of its own. */
function storedCount(dir: string, room?: string): number {
  const db = new DatabaseSync(join(dir, HISTORY_FILE_NAME), { readOnly: true });
  try {
    const row = room === undefined
      ? db.prepare("SELECT count(*) AS n FROM events").get()
      : db.prepare("SELECT count(*) AS n FROM events WHERE room = ?").get(room);
    return (row as { n: number }).n;
  } finally {
    db.close();
  }
}

Deno.test("sqlite history - ids are dense per room and continue after a restart", async () => {
  await withTempDir(async (dir) => {
    {
      await using history = open(dir);
      assert.deepEqual(
        [1, 2, 3].map(() => history.append("lobby", bytes("hi"), 1000)),
        [1n, 2n, 3n],
      );
      assert.equal(history.append("games", bytes("gg"), 1000), 1n);
      assert.equal(history.append("lobby", bytes("hi"), 1000), 4n);
    }
    await using history = open(dir);
    assert.equal(history.append("lobby", bytes("back"), 2000), 5n);
    assert.equal(history.append("games", bytes("back"), 2000), 2n);
    assert.equal(history.append("new", bytes("first"), 2000), 1n);
  });
});

Deno.test("sqlite history - messages survive a restart, bytes and ids intact", async () => {
  await withTempDir(async (dir) => {
    {
      await using history = open(dir);
      for (let i = 1; i <= 5; i++) history.append("lobby", bytes(`message ${i}`), 1000 + i);
    }
    await using history = open(dir);
    const page = await history.before("lobby", 0n, 10);
    assert.deepEqual(ids(page.events), [1, 2, 3, 4, 5]);
    assert.deepEqual(page.events.map((e) => new TextDecoder().decode(e.chatEvent)), [
      "message 1",
      "message 2",
      "message 3",
      "message 4",
      "message 5",
    ]);
    assert.equal(page.more, false);
  });
});

Deno.test("sqlite history - keeps historySize messages per room", async () => {
  await withTempDir(async (dir) => {
    await using history = open(dir, { historySize: 3 });
    for (let i = 0; i < 10; i++) history.append("lobby", bytes(`m${i}`), 1000);
    history.append("quiet", bytes("only"), 1000);
    const page = await history.before("lobby", 0n, 100);
    assert.deepEqual(ids(page.events), [8, 9, 10]);
    assert.equal(page.more, false);
    assert.equal(storedCount(dir, "lobby"), 3);
    assert.deepEqual(ids((await history.before("quiet", 0n, 100)).events), [1]);
    // Trimmed across batches too, not only within one.
    history.append("lobby", bytes("m10"), 1000);
    assert.deepEqual(ids((await history.before("lobby", 0n, 100)).events), [9, 10, 11]);
  });
});

Deno.test("sqlite history - forgets messages older than historyDays", async () => {
  await withTempDir(async (dir) => {
    const now = Date.now();
    {
      await using history = open(dir, { historyDays: 1 });
      for (let i = 0; i < 3; i++) history.append("lobby", bytes("old"), now - 2 * DAY_MS);
      for (let i = 0; i < 2; i++) history.append("lobby", bytes("new"), now);
      history.append("stale", bytes("old"), now - 3 * DAY_MS);
      // Reads skip them before they are deleted.
      const page = await history.before("lobby", 0n, 100);
      assert.deepEqual(ids(page.events), [4, 5]);
      assert.equal(page.more, false);
      const missed = await history.after("lobby", 0n, 100);
      assert.deepEqual(ids(missed.events), [4, 5]);
      assert.equal(missed.missed, 3n);
      assert.deepEqual(await history.rooms(10), ["lobby"]);
      assert.equal(storedCount(dir), 6);
    }
    // Opening deletes them.
    await using history = open(dir, { historyDays: 1 });
    assert.equal(storedCount(dir, "lobby"), 2);
    assert.equal(storedCount(dir, "stale"), 0);
    // A room whose every message aged out still goes on from its last id.
    assert.equal(history.append("stale", bytes("again"), now + 1), 2n);
    assert.deepEqual(await history.rooms(10), ["stale", "lobby"]);
  });
});

Deno.test("sqlite history - before() pages backwards, saying whether more is kept", async () => {
  await withTempDir(async (dir) => {
    await using history = open(dir);
    for (let i = 0; i < 10; i++) history.append("lobby", bytes(`m${i}`), 1000);
    let page = await history.before("lobby", 0n, 4);
    assert.deepEqual([ids(page.events), page.more], [[7, 8, 9, 10], true]);
    page = await history.before("lobby", 7n, 4);
    assert.deepEqual([ids(page.events), page.more], [[3, 4, 5, 6], true]);
    page = await history.before("lobby", 3n, 4);
    assert.deepEqual([ids(page.events), page.more], [[1, 2], false]);
    page = await history.before("lobby", 1n, 4);
    assert.deepEqual([ids(page.events), page.more], [[], false]);
    page = await history.before("lobby", 2n ** 64n - 1n, 2);
    assert.deepEqual([ids(page.events), page.more], [[9, 10], true]);
    page = await history.before("lobby", 0n, 0);
    assert.deepEqual([ids(page.events), page.more], [[], true]);
    page = await history.before("nowhere", 0n, 4);
    assert.deepEqual([ids(page.events), page.more], [[], false]);
  });
});

Deno.test("sqlite history - after() returns what was missed and counts what is gone", async () => {
  await withTempDir(async (dir) => {
    await using history = open(dir, { historySize: 5 });
    for (let i = 0; i < 10; i++) history.append("lobby", bytes(`m${i}`), 1000);
    let missed = await history.after("lobby", 2n, 100);
    assert.deepEqual([ids(missed.events), missed.missed, missed.more], [
      [6, 7, 8, 9, 10],
      3n,
      false,
    ]);
    missed = await history.after("lobby", 7n, 100);
    assert.deepEqual([ids(missed.events), missed.missed, missed.more], [[8, 9, 10], 0n, true]);
    // Over the limit: the newest, the rest counted as missed.
    missed = await history.after("lobby", 0n, 2);
    assert.deepEqual([ids(missed.events), missed.missed, missed.more], [[9, 10], 8n, true]);
    missed = await history.after("lobby", 10n, 100);
    assert.deepEqual([ids(missed.events), missed.missed], [[], 0n]);
    missed = await history.after("lobby", 2n ** 64n - 1n, 100);
    assert.deepEqual([ids(missed.events), missed.missed], [[], 0n]);
    missed = await history.after("nowhere", 0n, 100);
    assert.deepEqual([ids(missed.events), missed.missed, missed.more], [[], 0n, false]);
  });
});

Deno.test("sqlite history - rooms() lists rooms keeping history, most recent first", async () => {
  await withTempDir(async (dir) => {
    {
      await using history = open(dir);
      assert.deepEqual(await history.rooms(10), []);
      history.append("a", bytes("1"), 1000);
      history.append("b", bytes("2"), 2000);
      history.append("c", bytes("3"), 3000);
      history.append("a", bytes("4"), 4000);
      assert.deepEqual(await history.rooms(10), ["a", "c", "b"]);
      assert.deepEqual(await history.rooms(2), ["a", "c"]);
    }
    await using history = open(dir);
    assert.deepEqual(await history.rooms(10), ["a", "c", "b"]);
  });
});

Deno.test("sqlite history - appends in one turn are written in one transaction", async () => {
  await withTempDir(async (dir) => {
    await using history = open(dir);
    for (let i = 0; i < 500; i++) history.append(`room ${i % 7}`, bytes(`m${i}`), 1000);
    assert.equal(history.stats().batches, 0, "nothing is written during the turn");
    await until(() => history.stats().batches > 0, "the batch to be written");
    assert.equal(history.stats().batches, 1);
    assert.equal(storedCount(dir), 500);
    // A read writes what is pending first, so it sees every message appended before it.
    for (let i = 0; i < 10; i++) history.append("room 0", bytes("late"), 2000);
    assert.equal((await history.after("room 0", 72n, 100)).events.length, 10);
    assert.equal(history.stats().batches, 2);
    assert.deepEqual(history.stats(), {
      state: "ok",
      appended: 510,
      lost: 0,
      failures: 0,
      batches: 2,
    });
  });
});

Deno.test("sqlite history - dispose writes what is pending", async () => {
  await withTempDir(async (dir) => {
    const history = open(dir);
    for (let i = 0; i < 3; i++) history.append("lobby", bytes("bye"), 1000);
    await history[Symbol.asyncDispose]();
    assert.equal(storedCount(dir), 3);
    // Closed: appends are not kept and never throw; reads are refused.
    assert.equal(history.append("lobby", bytes("late"), 1000), 0n);
    await assert.rejects(history.before("lobby", 0n, 10), HistoryUnavailableError);
    await history[Symbol.asyncDispose]();
  });
});

Deno.test("sqlite history - a failing storage loses its batches, logs once, refuses reads, recovers", async () => {
  await withTempDir(async (dir) => {
    const logger = new LogRecorder();
    await using history = open(dir, { retryMs: 5 }, logger);
    history.append("lobby", bytes("m1"), 1000);
    history.append("lobby", bytes("m2"), 1000);
    history.flush();

    // Another connection takes the write lock: a real SQLITE_BUSY, even for root.
    const locker = new DatabaseSync(join(dir, HISTORY_FILE_NAME));
    try {
      locker.exec("BEGIN EXCLUSIVE");
      for (let i = 3; i <= 5; i++) {
        assert.equal(history.append("lobby", bytes(`m${i}`), 1000), BigInt(i));
      }
      await until(() => history.stats().state === "failing", "the failure");
      assert.equal(history.stats().lost, 3);
      for (let i = 6; i <= 7; i++) {
        assert.equal(history.append("lobby", bytes(`m${i}`), 1000), BigInt(i));
      }
      await until(() => history.stats().lost === 5, "the second batch to fail");
      await assert.rejects(history.before("lobby", 0n, 10), HistoryUnavailableError);
      await assert.rejects(history.after("lobby", 0n, 10), HistoryUnavailableError);
      await assert.rejects(history.rooms(10), HistoryUnavailableError);
      assert.ok(history.stats().failures >= 2);
      assert.equal(logger.count("history_failing"), 1, "logged once per outage");
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }

    assert.equal(history.append("lobby", bytes("m8"), 1000), 8n);
    await until(() => history.stats().state === "ok", "the recovery");
    assert.equal(logger.count("history_failing"), 1);
    assert.equal(logger.count("history_recovered"), 1);
    assert.match(logger.entries.at(-1)!.message, /5 messages lost/);
    const missed = await history.after("lobby", 0n, 100);
    assert.deepEqual([ids(missed.events), missed.missed], [[1, 2, 8], 5n]);
    const since = await history.after("lobby", 2n, 100);
    assert.deepEqual([ids(since.events), since.missed], [[8], 5n]);
    assert.deepEqual(history.stats().lost, 5);
  });
});

Deno.test("sqlite history - refuses a file that is not a database and leaves it as it was", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, HISTORY_FILE_NAME);
    for (const content of [crypto.getRandomValues(new Uint8Array(8192)), bytes("hello\n")]) {
      await Deno.writeFile(path, content);
      const error = assertThrows(() => open(dir), HistoryFileCorruptError);
      assert.equal(error.message, `Cannot open history file ${path}: file is not a database`);
      assert.deepEqual(await Deno.readFile(path), content);
      assert.deepEqual(await listDir(dir), [HISTORY_FILE_NAME]);
    }
  });
});

Deno.test("sqlite history - refuses another application's database and leaves it as it was", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, HISTORY_FILE_NAME);
    for (const applicationId of [0, 0x12345678]) {
      await Deno.remove(path).catch(() => {});
      const other = new DatabaseSync(path);
      other.exec(`PRAGMA application_id = ${applicationId}`);
      other.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')");
      other.close();
      const before = await Deno.readFile(path);
      const error = assertThrows(() => open(dir), HistoryFileForeignError);
      const hex = applicationId.toString(16).padStart(8, "0");
      assert.equal(
        error.message,
        `Cannot open history file ${path}: it is not a chat history database (application_id 0x${hex})`,
      );
      assert.deepEqual(await Deno.readFile(path), before);
      assert.deepEqual(await listDir(dir), [HISTORY_FILE_NAME]);
    }
  });
});

Deno.test("sqlite history - refuses a history file from a newer server", async () => {
  await withTempDir(async (dir) => {
    await open(dir)[Symbol.asyncDispose]();
    const db = new DatabaseSync(join(dir, HISTORY_FILE_NAME));
    db.exec("PRAGMA user_version = 99");
    db.close();
    const error = assertThrows(() => open(dir), HistoryFileVersionError);
    assert.match(error.message, /newer server \(schema 99/);
  });
});

Deno.test("sqlite history - creates a missing directory, and takes an empty file", async () => {
  await withTempDir(async (dir) => {
    const nested = join(dir, "data", "chat");
    {
      await using history = open(nested);
      history.append("lobby", bytes("hi"), 1000);
    }
    assert.equal(storedCount(nested), 1);
    const header = (await Deno.readFile(join(nested, HISTORY_FILE_NAME))).subarray(0, 100);
    assert.equal(new DataView(header.buffer).getUint32(68), HISTORY_APPLICATION_ID);

    await Deno.writeFile(join(dir, HISTORY_FILE_NAME), new Uint8Array());
    await using history = open(dir);
    assert.equal(history.append("lobby", bytes("hi"), 1000), 1n);
    assert.deepEqual(ids((await history.before("lobby", 0n, 10)).events), [1]);
  });
});

Deno.test("sqlite history - refuses nonsense options", () => {
  assert.throws(() => SqliteHistory.open({ dataDir: "/nonexistent", historySize: 0 }), RangeError);
  assert.throws(() => SqliteHistory.open({ dataDir: "/nonexistent", historyDays: -1 }), RangeError);
});

function assertThrows<E extends Error>(
  run: () => unknown,
  type: abstract new (...args: never[]) => E,
): E {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    return error;
  }
  assert.fail(`expected ${type.name}`);
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("sqlite history - past maxRooms the least recently active rooms nobody is in lose their history", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    await using history = SqliteHistory.open({ dataDir, maxRooms: 3, flushMs: 0 });
    history.retain((room) => room === "#kept");
    history.append("#kept", new Uint8Array([1]), 1);
    for (let n = 0; n < 1_010; n++) history.append(`#r${n}`, new Uint8Array([2]), 2 + n);
    history.flush();
    const rooms = await history.rooms(10_000);
    assert.equal(rooms.length, 3, `${rooms.length} rooms kept`);
    assert.ok(rooms.includes("#kept"), "a room in use keeps its history");
    assert.ok(rooms.includes("#r1009"), "the newest stay");
    assert.ok(!rooms.includes("#r0"), "the oldest go");
    assert.equal((await history.after("#r0", 0n, 10)).events.length, 0);
    assert.equal(history.append("#kept", new Uint8Array([3]), 9_999), 2n, "its ids go on");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
