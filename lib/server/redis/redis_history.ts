import { Buffer } from "node:buffer";
import { Redis } from "ioredis";
import { countNoun } from "../../util/count_noun.ts";
import { describeError } from "../../util/describe_error.ts";
import { waitAtMost } from "../../util/wait_at_most.ts";
import {
  type HistoryPage,
  type HistoryStats,
  type HistoryStore,
  HistoryUnavailableError,
  type MissedEvents,
  type StoredEvent,
} from "../history/history_store.ts";
import type { Logger } from "../logger.ts";
import { connectRedis, redisAddress } from "./redis_connection.ts";

export interface RedisHistoryOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string;
  /** With `rediss://`: PEM CA certificates to trust besides the system's. @default undefined */
  ca?: string;
  /** Messages kept per room: older ones are dropped as new ones come. @default 1000 */
  historySize: number;
  /** Days a message is kept, whatever the room's size; undefined: no limit by age. @default undefined */
  historyDays?: number;
  /**
   * How long one command may take before it counts as failed: a message then goes out
   * without an id, a read is answered with HistoryUnavailableError. @default 1000
   */
  timeoutMs: number;
  /**
   * Rooms whose history is kept: past it (by up to 1,000), the least recently active lose
   * their messages, so that rooms made and left by the thousand cannot fill Redis. Their
   * counters stay (for 30 days), so ids go on if they come back. @default 10000
   */
  maxRooms: number;
}

export const DEFAULT_REDIS_HISTORY_OPTIONS: Readonly<Omit<RedisHistoryOptions, "url">> = Object
  .freeze({ historySize: 1000, timeoutMs: 1000, maxRooms: 10_000 });

/** How long a dropped room's counter outlives its history. */
const DROPPED_SEQ_MS = 30 * 24 * 60 * 60 * 1000;

const PREFIX = "chat:";
/** Sorted set: room -> its last message's sent-at ms. */
const ROOMS = `${PREFIX}rooms`;
const DAY_MS = 24 * 60 * 60 * 1000;
/** The largest stream id's first part: an id past it is clamped, not sent to fail in Redis. */
const MAX_STREAM_ID = 2n ** 64n - 1n;

/**
 * Drops a stream's entries sent before the cutoff (field `t`), from the head: entries
 * are in sending order, so the first one recent enough ends the search. Reads run it
 * too, so that a room idle since never serves a message past its age.
 */
const TRIM_OLD = `
local function sentAt(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 't' then return tonumber(fields[i + 1]) end
  end
  return 0
end

local function trimOld(stream, cutoff)
  if cutoff <= 0 then return end
  -- The head alone first: most of the time it is recent enough, and nothing is written.
  local from, batch, old = '-', 1, 0
  while true do
    local entries = redis.call('XRANGE', stream, from, '+', 'COUNT', batch)
    for _, entry in ipairs(entries) do
      if sentAt(entry) >= cutoff then
        if old > 0 then redis.call('XTRIM', stream, 'MINID', entry[1]) end
        return
      end
      old = old + 1
    end
    if #entries < batch then
      if old > 0 then redis.call('XTRIM', stream, 'MAXLEN', 0) end
      return
    end
    from = '(' .. entries[#entries][1]
    batch = 100
  end
end
`;

/**
 * KEYS: the room's seq, its history stream, the rooms set. ARGV: room, event bytes,
 * sent-at ms, history size, cutoff ms (0: none), retention ms (0: none), floor (the
 * highest id the caller has seen; 0: none), the most rooms kept, the slack past it, how
 * long a dropped room's counter lives (ms). The keys of dropped rooms are made here from
 * their names: this store runs on one Redis, not Redis Cluster. Gives the
 * message the room's next id, and keeps it under the stream id `<id>-0`: one script,
 * so two servers can never give out one id twice, nor keep messages out of id order.
 */
const APPEND = `${TRIM_OLD}
local id = redis.call('INCR', KEYS[1])
-- A room that comes back after it was dropped keeps its counter for good again.
redis.call('PERSIST', KEYS[1])
local floor = tonumber(ARGV[7])
if id <= floor then
  -- A Redis that lost the counter (restarted empty): ids go on above what servers have seen.
  id = floor + 1
  redis.call('SET', KEYS[1], string.format('%d', id))
end
if id == 1 and redis.call('EXISTS', KEYS[2]) == 1 then
  -- The counter was lost (evicted, deleted) but not the stream: go on after the stream's
  -- last id, or every XADD below would fail.
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      id = tonumber(string.match(info[i + 1], '^(%d+)')) + 1
      redis.call('SET', KEYS[1], string.format('%d', id))
    end
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], string.format('%d-0', id), 't', ARGV[3], 'e', ARGV[2])
redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[1])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[8])
if excess > tonumber(ARGV[9]) then
  for _, room in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do
    redis.call('DEL', 'chat:room:' .. room .. ':history')
    redis.call('PEXPIRE', 'chat:room:' .. room .. ':seq', ARGV[10])
    redis.call('ZREM', KEYS[3], room)
  end
end
local cutoff = tonumber(ARGV[5])
if cutoff > 0 then
  trimOld(KEYS[2], cutoff)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return id
`;

/**
 * KEYS: the room's history stream. ARGV: cutoff ms (0: none), last stream id wanted
 * ('+': the newest), count. The newest `count` entries up to that id, newest first.
 */
const BEFORE = `${TRIM_OLD}
trimOld(KEYS[1], tonumber(ARGV[1]))
return redis.call('XREVRANGE', KEYS[1], ARGV[2], '-', 'COUNT', ARGV[3])
`;

/**
 * KEYS: the room's seq, its history stream. ARGV: cutoff ms (0: none), first stream id
 * wanted, limit. Returns {the room's last id, the newest `limit` entries from that id
 * (newest first), the oldest kept entry's id or ''}, all read at one moment.
 */
const AFTER = `${TRIM_OLD}
trimOld(KEYS[2], tonumber(ARGV[1]))
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local entries = {}
if tonumber(ARGV[3]) > 0 then
  entries = redis.call('XREVRANGE', KEYS[2], '+', ARGV[2], 'COUNT', ARGV[3])
end
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local headId = ''
if head[1] then headId = head[1][1] end
return {last, entries, headId}
`;

type StreamEntries = [Buffer, Buffer[]][];

interface HistoryCommands {
  historyAppend(
    seqKey: string,
    historyKey: string,
    roomsKey: string,
    room: string,
    event: Buffer,
    sentAtMs: string,
    size: string,
    cutoffMs: string,
    retentionMs: string,
    floor: string,
    maxRooms: string,
    slack: string,
    droppedSeqMs: string,
  ): Promise<number>;
  historyBeforeBuffer(
    historyKey: string,
    cutoffMs: string,
    end: string,
    count: string,
  ): Promise<StreamEntries>;
  historyAfterBuffer(
    seqKey: string,
    historyKey: string,
    cutoffMs: string,
    start: string,
    limit: string,
  ): Promise<[number, StreamEntries, Buffer]>;
}

type ScriptedRedis = Redis & HistoryCommands;

/**
 * Room history in Redis, shared by every server of a cluster: each room is a counter
 * (`chat:room:<room>:seq`) and a capped stream (`chat:room:<room>:history`) whose entry
 * ids are the event ids, `<id>-0`, holding the sent-at ms (`t`) and the encoded event
 * (`e`); `chat:rooms` ranks rooms by last activity. While Redis is out of reach,
 * appends give 0n (the message goes out without an id) and reads reject with
 * HistoryUnavailableError, each within `timeoutMs`; the outage is logged once, and so
 * is the recovery.
 */
export class RedisHistory implements HistoryStore {
  readonly #redis: ScriptedRedis;
  readonly #options: RedisHistoryOptions;
  readonly #logger: Logger;
  readonly #where: string;
  readonly #stats = { appended: 0, lost: 0, failures: 0 };
  #failing = false;
  #failingSince = 0;
  /** `lost` when the outage began, to tell how many messages it cost. */
  #lostBefore = 0;
  #closed = false;

  private constructor(redis: ScriptedRedis, options: RedisHistoryOptions, logger: Logger) {
    this.#redis = redis;
    this.#options = options;
    this.#logger = logger;
    this.#where = redisAddress(options.url);
    redis.on("close", () => {
      if (!this.#closed) this.#failed("connection closed");
    });
    // A new connection is the recovery from a lost one; a Redis that stopped answering
    // on a live connection recovers with the next command that goes through.
    redis.on("ready", () => this.#succeeded());
  }

  /**
   * Connects to Redis. Throws BackplaneConnectError when it cannot be reached: a server
   * told to keep its history in Redis must not start without it. Later outages do not
   * throw: the store reconnects by itself.
   */
  static async connect(
    options: Partial<RedisHistoryOptions> & { url: string },
    logger: Logger,
  ): Promise<RedisHistory> {
    const settings: RedisHistoryOptions = { ...DEFAULT_REDIS_HISTORY_OPTIONS, ...options };
    if (!Number.isInteger(settings.historySize) || settings.historySize < 1) {
      throw new RangeError(`historySize must be a whole number >= 1, not ${settings.historySize}`);
    }
    if (settings.historyDays !== undefined && !(settings.historyDays > 0)) {
      throw new RangeError(`historyDays must be above 0, not ${settings.historyDays}`);
    }
    // A Redis that stops answering on a live connection must not hold messages long.
    const redis = await connectRedis(
      settings.url,
      "history",
      settings.timeoutMs,
      settings.ca,
    ) as ScriptedRedis;
    redis.defineCommand("historyAppend", { numberOfKeys: 3, lua: APPEND });
    redis.defineCommand("historyBefore", { numberOfKeys: 1, lua: BEFORE });
    redis.defineCommand("historyAfter", { numberOfKeys: 2, lua: AFTER });
    return new RedisHistory(redis, settings, logger);
  }

  append(
    room: string,
    chatEvent: Uint8Array,
    sentAtUnixMs: number,
    floor = 0n,
  ): Promise<bigint> {
    this.#stats.appended++;
    if (this.#redis.status !== "ready") return Promise.resolve(this.#lose("Redis is out of reach"));
    const retentionMs = this.#retentionMs();
    return this.#redis.historyAppend(
      seqKey(room),
      historyKey(room),
      ROOMS,
      room,
      // A view, not a copy: it is written out within a tick and never held while Redis is away.
      Buffer.from(chatEvent.buffer, chatEvent.byteOffset, chatEvent.byteLength),
      String(Math.floor(sentAtUnixMs)),
      String(this.#options.historySize),
      String(retentionMs === 0 ? 0 : Date.now() - retentionMs),
      String(retentionMs),
      String(floor),
      String(this.#options.maxRooms),
      String(Math.min(1000, this.#options.maxRooms)),
      String(DROPPED_SEQ_MS),
    ).then(
      (id) => {
        this.#succeeded();
        return BigInt(id);
      },
      (error) => this.#lose(`a write failed: ${describeError(error)}`),
    );
  }

  async before(room: string, beforeId: bigint, count: number): Promise<HistoryPage> {
    const wanted = Math.max(0, Math.floor(count));
    const end = beforeId <= 0n ? "+" : `${clampId(beforeId - 1n)}-0`;
    const entries = await this.#read(() =>
      this.#redis.historyBeforeBuffer(historyKey(room), this.#cutoff(), end, String(wanted + 1))
    );
    // One more than asked for says whether older ones are kept.
    const more = entries.length > wanted;
    return { events: entries.slice(0, wanted).reverse().map(storedEvent), more };
  }

  async after(room: string, afterId: bigint, limit: number): Promise<MissedEvents> {
    const wanted = Math.max(0, Math.floor(limit));
    const from = afterId < 0n ? 0n : afterId;
    const [last, entries, head] = await this.#read(() =>
      this.#redis.historyAfterBuffer(
        seqKey(room),
        historyKey(room),
        this.#cutoff(),
        `${clampId(from + 1n)}-0`,
        String(wanted),
      )
    );
    const events = entries.reverse().map(storedEvent);
    const missed = BigInt(last) - from - BigInt(events.length);
    const headId = head.byteLength === 0 ? undefined : eventId(head);
    return {
      events,
      // Kept messages older than the first returned (or than any returned), as SqliteHistory.
      more: headId !== undefined &&
        headId < (events.length > 0 ? events[0].eventId : min(from, BigInt(last)) + 1n),
      missed: missed > 0n ? missed : 0n,
      lastId: BigInt(last),
    };
  }

  async rooms(limit: number): Promise<string[]> {
    const wanted = Math.max(0, Math.floor(limit));
    if (wanted === 0) return [];
    const retentionMs = this.#retentionMs();
    return await this.#read(() =>
      this.#redis.zrevrangebyscore(
        ROOMS,
        "+inf",
        retentionMs === 0 ? "-inf" : String(Date.now() - retentionMs),
        "LIMIT",
        0,
        wanted,
      )
    );
  }

  async lastEventId(room: string): Promise<bigint> {
    const last = await this.#read(() => this.#redis.get(seqKey(room)));
    return BigInt(last ?? 0);
  }

  stats(): HistoryStats {
    return { state: this.#failing ? "failing" : "ok", ...this.#stats };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#redis.status === "ready") await waitAtMost(this.#redis.quit(), 1000);
    this.#redis.disconnect();
  }

  async #read<T>(command: () => Promise<T>): Promise<T> {
    if (this.#redis.status !== "ready") {
      this.#failed("Redis is out of reach");
      throw new HistoryUnavailableError(
        `history is unavailable: Redis at ${this.#where} is out of reach`,
      );
    }
    try {
      const reply = await command();
      this.#succeeded();
      return reply;
    } catch (error) {
      this.#failed(`a read failed: ${describeError(error)}`);
      throw new HistoryUnavailableError(
        `history is unavailable: Redis at ${this.#where}: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  #retentionMs(): number {
    const days = this.#options.historyDays;
    return days === undefined ? 0 : Math.ceil(days * DAY_MS);
  }

  #cutoff(): string {
    const retentionMs = this.#retentionMs();
    return String(retentionMs === 0 ? 0 : Date.now() - retentionMs);
  }

  #lose(reason: string): bigint {
    this.#failed(reason);
    this.#stats.lost++;
    return 0n;
  }

  #failed(reason: string): void {
    this.#stats.failures++;
    if (this.#failing || this.#closed) return;
    this.#failing = true;
    this.#failingSince = Date.now();
    this.#lostBefore = this.#stats.lost;
    this.#logger.log(
      "warn",
      "history_failing",
      `history: lost Redis at ${this.#where} (${reason}): messages go out without event ids ` +
        `and history cannot be read; retrying`,
      { redis: this.#where, reason },
    );
  }

  #succeeded(): void {
    if (!this.#failing || this.#closed) return;
    this.#failing = false;
    const lost = this.#stats.lost - this.#lostBefore;
    const seconds = Math.round((Date.now() - this.#failingSince) / 100) / 10;
    this.#logger.log(
      "notice",
      "history_recovered",
      `history: Redis at ${this.#where} is back after ${seconds} s; ${
        countNoun(lost, "message")
      } went out without being kept`,
      { redis: this.#where, lost, seconds },
    );
  }
}

function seqKey(room: string): string {
  return `${PREFIX}room:${room}:seq`;
}

function historyKey(room: string): string {
  return `${PREFIX}room:${room}:history`;
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function clampId(id: bigint): bigint {
  return id > MAX_STREAM_ID ? MAX_STREAM_ID : id;
}

/** The event id of a stream id `<id>-0`. */
function eventId(streamId: Buffer): bigint {
  const text = streamId.toString("latin1");
  return BigInt(text.slice(0, text.indexOf("-")));
}

function storedEvent([id, fields]: [Buffer, Buffer[]]): StoredEvent {
  let chatEvent: Uint8Array | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i].length === 1 && fields[i][0] === 0x65 /* "e" */) {
      // A copy: the reply's buffers are views into the socket's read chunk.
      chatEvent = new Uint8Array(fields[i + 1]);
    }
  }
  return { eventId: eventId(id), chatEvent: chatEvent ?? new Uint8Array(0) };
}
