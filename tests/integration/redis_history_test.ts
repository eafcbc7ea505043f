import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { BackplaneConnectError } from "../../lib/server/errors.ts";
import { HistoryUnavailableError } from "../../lib/server/history/history_store.ts";
import type { Logger, LogLevel } from "../../lib/server/logger.ts";
import { RedisHistory, type RedisHistoryOptions } from "../../lib/server/redis/redis_history.ts";
import { freePort } from "../support/client_process.ts";
import { deadline } from "../support/deadline.ts";
import { RedisProcess } from "../support/redis_process.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Keeps every log entry, and wakes whoever waits for one. */
class RecordingLogger implements Logger {
  readonly entries: { level: LogLevel; event: string; message: string }[] = [];
  #logged = Promise.withResolvers<void>();

  log(level: LogLevel, event: string, message: string): void {
    this.entries.push({ level, event, message });
    this.#logged.resolve();
    this.#logged = Promise.withResolvers();
  }

  count(event: string): number {
    return this.entries.filter((entry) => entry.event === event).length;
  }

  /** Waits until `event` has been logged `times` times in all. */
  async waitFor(event: string, times = 1, ms = 10_000): Promise<void> {
    const giveUpAt = Date.now() + ms;
    while (this.count(event) < times) {
      await deadline(
        this.#logged.promise,
        Math.max(1, giveUpAt - Date.now()),
        () => `"${event}" logged ${times} times; log: ${JSON.stringify(this.entries)}`,
      );
    }
  }
}

function connect(
  redis: RedisProcess,
  options: Partial<RedisHistoryOptions> = {},
  logger: Logger = new RecordingLogger(),
): Promise<RedisHistory> {
  return RedisHistory.connect({ url: redis.url, ...options }, logger);
}

/** A distinct event payload per message, to tell which one came back. */
function payload(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

async function appendAll(
  history: RedisHistory,
  room: string,
  texts: string[],
  sentAt = Date.now(),
): Promise<bigint[]> {
  return await Promise.all(texts.map((t) => history.append(room, payload(t), sentAt)));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

Deno.test("redis history - two servers appending to one room at once share one dense sequence", async () => {
  await using redis = await RedisProcess.start();
  await using a = await connect(redis);
  await using b = await connect(redis);
  const each = 300;
  const [idsA, idsB] = await Promise.all([
    appendAll(a, "#lobby", range(1, each).map((i) => `a${i}`)),
    appendAll(b, "#lobby", range(1, each).map((i) => `b${i}`)),
  ]);
  // Each server's ids follow its own order of appends.
  for (const ids of [idsA, idsB]) {
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${ids}`);
  }
  const all = [...idsA, ...idsB].sort((x, y) => x < y ? -1 : x > y ? 1 : 0);
  assert.deepEqual(all, range(1, 2 * each).map(BigInt));

  // Both read the one history, in id order, each id with its own message.
  const byId = new Map<bigint, string>();
  idsA.forEach((id, i) => byId.set(id, `a${i + 1}`));
  idsB.forEach((id, i) => byId.set(id, `b${i + 1}`));
  for (const reader of [a, b]) {
    const { events, missed, more } = await reader.after("#lobby", 0n, 10_000);
    assert.equal(missed, 0n);
    assert.equal(more, false);
    assert.deepEqual(events.map((e) => e.eventId), all);
    for (const event of events) assert.equal(text(event.chatEvent), byId.get(event.eventId));
  }
  assert.deepEqual(a.stats(), { state: "ok", appended: each, lost: 0, failures: 0 });
});

Deno.test("redis history - events come back byte for byte, rooms apart", async () => {
  await using redis = await RedisProcess.start();
  await using history = await connect(redis);
  const binary = new Uint8Array([0, 255, 0xc3, 0x28, 10, 13, 0, 0x80, 36]);
  // A view into a larger buffer: only its own bytes are kept.
  const framed = new Uint8Array([9, 9, ...binary, 9]).subarray(2, 2 + binary.length);
  assert.equal(await history.append("#bin", framed, Date.now()), 1n);
  assert.equal(await history.append("#other", payload("x"), Date.now()), 1n);
  assert.equal(await history.append("#bin", new Uint8Array(0), Date.now()), 2n);
  const { events } = await history.before("#bin", 0n, 10);
  assert.deepEqual(events.map((e) => [e.eventId, [...e.chatEvent]]), [[1n, [...binary]], [2n, []]]);
  assert.ok(events.every((e) => e.chatEvent.constructor === Uint8Array));
});

Deno.test("redis history - before pages back from the newest, oldest first", async () => {
  await using redis = await RedisProcess.start();
  await using history = await connect(redis, { historySize: 5 });
  await appendAll(history, "#r", range(1, 8).map((i) => `m${i}`));
  // Kept: 4..8.
  const ids = async (beforeId: bigint, count: number) => {
    const page = await history.before("#r", beforeId, count);
    return { ids: page.events.map((e) => Number(e.eventId)), more: page.more };
  };
  assert.deepEqual(await ids(0n, 3), { ids: [6, 7, 8], more: true });
  assert.deepEqual(await ids(6n, 10), { ids: [4, 5], more: false });
  assert.deepEqual(await ids(6n, 2), { ids: [4, 5], more: false });
  assert.deepEqual(await ids(6n, 1), { ids: [5], more: true });
  assert.deepEqual(await ids(0n, 5), { ids: [4, 5, 6, 7, 8], more: false });
  assert.deepEqual(await ids(4n, 5), { ids: [], more: false });
  assert.deepEqual(await ids(1n, 5), { ids: [], more: false });
  assert.deepEqual(await ids(0n, 0), { ids: [], more: true });
  // Ids past any kept, up to the largest uint64, are "the newest".
  assert.deepEqual(await ids(2n ** 64n - 1n, 2), { ids: [7, 8], more: true });
  assert.deepEqual(await history.before("#none", 0n, 3), { events: [], more: false });
  assert.equal(history.stats().failures, 0);
});

Deno.test("redis history - after returns what a client missed, and counts what is no longer kept", async () => {
  await using redis = await RedisProcess.start();
  await using history = await connect(redis, { historySize: 5 });
  await appendAll(history, "#r", range(1, 8).map((i) => `m${i}`));
  const after = async (afterId: bigint, limit: number) => {
    const { events, more, missed } = await history.after("#r", afterId, limit);
    return { ids: events.map((e) => Number(e.eventId)), more, missed };
  };
  // Kept: 4..8; 3 is gone.
  assert.deepEqual(await after(2n, 100), { ids: [4, 5, 6, 7, 8], more: false, missed: 1n });
  assert.deepEqual(await after(3n, 100), { ids: [4, 5, 6, 7, 8], more: false, missed: 0n });
  assert.deepEqual(await after(5n, 100), { ids: [6, 7, 8], more: true, missed: 0n });
  // Over the limit: the newest, and the rest count as missed.
  assert.deepEqual(await after(0n, 2), { ids: [7, 8], more: true, missed: 6n });
  assert.deepEqual(await after(5n, 2), { ids: [7, 8], more: true, missed: 1n });
  assert.deepEqual(await after(5n, 0), { ids: [], more: true, missed: 3n });
  assert.deepEqual(await after(2n, 0), { ids: [], more: false, missed: 6n });
  // Nothing new, or an id from a history this Redis never had.
  assert.deepEqual(await after(8n, 100), { ids: [], more: true, missed: 0n });
  assert.deepEqual(await after(500n, 100), { ids: [], more: true, missed: 0n });
  assert.deepEqual(await after(2n ** 64n - 1n, 100), { ids: [], more: true, missed: 0n });
  const none = await history.after("#none", 7n, 100);
  assert.deepEqual(none, { events: [], more: false, missed: 0n, lastId: 0n });
  assert.equal(history.stats().failures, 0);
});

Deno.test("redis history - keeps historySize messages per room, ids going on", async () => {
  await using redis = await RedisProcess.start();
  await using history = await connect(redis, { historySize: 10 });
  const inspector = new Redis(redis.url);
  try {
    for (let round = 0; round < 5; round++) {
      await appendAll(history, "#big", range(1, 7).map((i) => `${round}/${i}`));
      await appendAll(history, "#small", [`${round}`]);
    }
    assert.equal(await inspector.xlen("chat:room:#big:history"), 10);
    assert.equal(await inspector.xlen("chat:room:#small:history"), 5);
    assert.equal(await inspector.get("chat:room:#big:seq"), "35");
    const { events, missed } = await history.after("#big", 0n, 100);
    assert.deepEqual(events.map((e) => Number(e.eventId)), range(26, 35));
    assert.equal(missed, 25n);
    assert.equal(text(events.at(-1)!.chatEvent), "4/7");

    // A counter lost on its own (evicted, deleted) goes on after the stream's last id.
    await inspector.del("chat:room:#big:seq");
    assert.equal(await history.append("#big", payload("after"), Date.now()), 36n);
    assert.equal(await inspector.xlen("chat:room:#big:history"), 10);
  } finally {
    inspector.disconnect();
  }
});

Deno.test("redis history - rooms lists rooms by last activity, the most recent first", async () => {
  await using redis = await RedisProcess.start();
  await using history = await connect(redis);
  assert.deepEqual(await history.rooms(10), []);
  const t = Date.now();
  await history.append("#a", payload("1"), t);
  await history.append("#b", payload("2"), t + 1);
  await history.append("#c", payload("3"), t + 2);
  await history.append("#a", payload("4"), t + 3);
  assert.deepEqual(await history.rooms(10), ["#a", "#c", "#b"]);
  assert.deepEqual(await history.rooms(2), ["#a", "#c"]);
  assert.deepEqual(await history.rooms(0), []);
  // A message sent earlier (another server's clock) does not move its room back.
  await history.append("#a", payload("5"), t - 1000);
  assert.deepEqual(await history.rooms(10), ["#a", "#c", "#b"]);
});

Deno.test("redis history - historyDays drops messages and rooms past their age", async () => {
  await using redis = await RedisProcess.start();
  await using history = await connect(redis, { historyDays: 2 });
  const now = Date.now();
  // Sent 3 days ago: past the age as soon as kept.
  await appendAll(history, "#old", ["o1", "o2"], now - 3 * DAY_MS);
  await appendAll(history, "#mixed", ["m1", "m2", "m3"], now - 3 * DAY_MS);
  await appendAll(history, "#mixed", ["m4", "m5"], now - DAY_MS);
  assert.deepEqual(await history.rooms(10), ["#mixed"]);
  const { events, missed, more } = await history.after("#mixed", 0n, 100);
  assert.deepEqual(events.map((e) => text(e.chatEvent)), ["m4", "m5"]);
  assert.deepEqual({ missed, more }, { missed: 3n, more: false });
  assert.deepEqual(await history.before("#old", 0n, 10), { events: [], more: false });
  assert.equal((await history.after("#old", 0n, 10)).missed, 2n);

  const inspector = new Redis(redis.url);
  try {
    // A stream lives on for historyDays after its last message, then goes as a whole.
    const ttl = await inspector.pttl("chat:room:#mixed:history");
    assert.ok(ttl > DAY_MS && ttl <= 2 * DAY_MS, `ttl ${ttl}`);

    // Reads apply the age too: in a room idle since its last append, the head has aged.
    const at = (days: number) => String(now - days * DAY_MS);
    await inspector.xadd("chat:room:#idle:history", "1-0", "t", at(5), "e", "x");
    await inspector.xadd("chat:room:#idle:history", "2-0", "t", at(1), "e", "y");
    await inspector.set("chat:room:#idle:seq", "2");
    const page = await history.before("#idle", 0n, 10);
    assert.deepEqual(page.events.map((e) => text(e.chatEvent)), ["y"]);
    assert.equal(page.more, false);
    assert.equal(await inspector.xlen("chat:room:#idle:history"), 1);
    assert.equal((await history.after("#idle", 0n, 10)).missed, 1n);
  } finally {
    inspector.disconnect();
  }
});

Deno.test("redis history - Redis stopped: appends give 0n quickly and reads reject; restarted: works again, logged once each", async () => {
  await using redis = await RedisProcess.start();
  const logger = new RecordingLogger();
  await using history = await connect(redis, {}, logger);
  assert.deepEqual(await appendAll(history, "#r", ["1", "2"]), [1n, 2n]);

  await redis.kill();
  await logger.waitFor("history_failing");
  const started = Date.now();
  const ids = await deadline(
    appendAll(history, "#r", range(1, 1000).map(String)),
    2000,
    "appends while Redis is down",
  );
  assert.ok(ids.every((id) => id === 0n));
  assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
  await assert.rejects(
    deadline(history.before("#r", 0n, 10), 2000, "before"),
    HistoryUnavailableError,
  );
  await assert.rejects(
    deadline(history.after("#r", 0n, 10), 2000, "after"),
    HistoryUnavailableError,
  );
  await assert.rejects(deadline(history.rooms(10), 2000, "rooms"), HistoryUnavailableError);
  const down = history.stats();
  assert.equal(down.state, "failing");
  assert.equal(down.appended, 1002);
  assert.equal(down.lost, 1000);
  assert.ok(down.failures >= 1004, `${down.failures}`);

  await redis.restart();
  await logger.waitFor("history_recovered");
  // The restarted Redis kept nothing (no persistence): ids start over.
  assert.equal(await history.append("#r", payload("back"), Date.now()), 1n);
  assert.deepEqual(
    (await history.before("#r", 0n, 10)).events.map((e) => text(e.chatEvent)),
    ["back"],
  );
  assert.equal(history.stats().state, "ok");
  assert.equal(logger.count("history_failing"), 1);
  assert.equal(logger.count("history_recovered"), 1);
  const back = logger.entries.find((entry) => entry.event === "history_recovered")!;
  assert.match(back.message, /1000 messages went out without being kept/);
});

Deno.test("redis history - a Redis that stops answering: appends give 0n within the timeout", async () => {
  await using redis = await RedisProcess.start();
  const logger = new RecordingLogger();
  await using history = await connect(redis, { timeoutMs: 300 }, logger);
  assert.equal(await history.append("#r", payload("1"), Date.now()), 1n);

  // Redis holds every script until unpaused (WRITE mode lets the unpause through).
  const pauser = new Redis(redis.url);
  try {
    await pauser.client("PAUSE", 10_000, "WRITE");
    const started = Date.now();
    assert.equal(await history.append("#r", payload("2"), Date.now()), 0n);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 1000, `${took} ms`);
    await assert.rejects(history.before("#r", 0n, 10), HistoryUnavailableError);
    assert.equal(history.stats().state, "failing");
    assert.equal(history.stats().lost, 1);
    await pauser.client("UNPAUSE");
  } finally {
    pauser.disconnect();
  }
  // The late append went through after all, so its id is taken.
  assert.equal(await history.append("#r", payload("3"), Date.now()), 3n);
  assert.equal(history.stats().state, "ok");
  assert.equal(logger.count("history_failing"), 1);
  assert.equal(logger.count("history_recovered"), 1);
});

Deno.test("redis history - connect throws BackplaneConnectError when Redis is out of reach", async () => {
  const port = freePort();
  await assert.rejects(
    RedisHistory.connect({ url: `redis://127.0.0.1:${port}` }, new RecordingLogger()),
    (error: unknown) => {
      assert.ok(error instanceof BackplaneConnectError);
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    },
  );
});

Deno.test("redis history - past maxRooms the least recently active rooms lose their messages, not their ids", async () => {
  await using redis = await RedisProcess.start();
  await using history = await connect(redis, { maxRooms: 3 });
  for (let n = 1; n <= 6; n++) await history.append(`#r${n}`, payload(`m${n}`), 1000 + n);
  assert.equal((await history.rooms(100)).length, 6, "within the slack: nothing dropped yet");
  await history.append("#r1", payload("again"), 2000);
  await history.append("#r7", payload("m7"), 2001);
  assert.deepEqual(await history.rooms(100), ["#r7", "#r1", "#r6"]);
  assert.deepEqual((await history.before("#r2", 0n, 10)).events, [], "#r2's messages are gone");
  assert.equal(await history.append("#r2", payload("back"), 3000), 2n, "its ids go on");
});
