import type { DatabaseSync, StatementSync } from "node:sqlite";
import { countNoun } from "../../util/count_noun.ts";
import { describeError } from "../../util/describe_error.ts";
import { openChatDatabase, openFailure, rollBack } from "../chat_database.ts";
import type { Logger } from "../logger.ts";
import {
  type HistoryPage,
  type HistoryStats,
  type HistoryStore,
  HistoryUnavailableError,
  type MissedEvents,
  type StoredEvent,
} from "./history_store.ts";

export interface SqliteHistoryOptions {
  /** The directory of the history file `history.sqlite3`; created when missing. */
  dataDir: string;
  /** Messages kept per room: older ones are deleted as new ones come. @default 1000 */
  historySize: number;
  /**
   * Days a message is kept, whatever the room's size: reads skip older ones, which are
   * deleted at open and then every minute. @default undefined (no limit by age)
   */
  historyDays?: number;
  /**
   * How long appends gather before they are written in one transaction: a commit costs
   * more than a row (a profile at 9,000 messages a second: 1.7% of the server's time in
   * BEGIN and COMMIT every 2 ms), and a crash loses at most this much. @default 10
   */
  flushMs: number;
  /** While storage fails, how long appends gather before the next attempt. @default 1000 */
  retryMs: number;
  /**
   * Rooms whose history is kept: past it (by ROOMS_SLACK), the least recently active
   * lose theirs, so that rooms made and left by the thousand cannot fill the disk, nor
   * the map of their last ids the memory. @default 10000
   */
  maxRooms: number;
}

export const DEFAULT_SQLITE_HISTORY_OPTIONS: Readonly<Omit<SqliteHistoryOptions, "dataDir">> =
  Object.freeze({ historySize: 1000, flushMs: 10, retryMs: 1000, maxRooms: 10_000 });

export interface SqliteHistoryStats extends HistoryStats {
  /** Transactions that wrote appended messages. */
  batches: number;
}

const PRUNE_INTERVAL_MS = 60_000;
const DAY_MS = 86_400_000;
/** While failing, messages waiting past this are lost at once: memory stays bounded. */
const MAX_PENDING_WHILE_FAILING = 10_000;
/** Rooms over maxRooms before the oldest are dropped: a batch of them, not one per message. */
const ROOMS_SLACK = 1_000;

interface PendingEvent {
  room: string;
  id: number;
  sentAt: number;
  event: Uint8Array;
}

interface EventRow {
  id: number;
  event: Uint8Array;
}

const SILENT: Logger = { log() {} };

/**
 * Room history in an SQLite file, for a server alone. Ids are given out here, from a
 * counter per room, so `append` answers at once; messages are written a batch at a
 * time, one transaction per few milliseconds. A failing write loses its batch (its ids
 * become holes that `after` reports as missed), is logged once per outage, and never
 * throws into `append`.
 */
export class SqliteHistory implements HistoryStore {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #logger: Logger;
  readonly #historySize: number;
  readonly #historyDays: number | undefined;
  readonly #flushMs: number;
  readonly #retryMs: number;
  /** The last id given out per room that has appended since open. */
  readonly #lastIds = new Map<string, number>();
  /** Rows of the rooms table, kept count of so that the oldest are dropped past maxRooms. */
  #roomsStored: number;
  readonly #maxRooms: number;
  readonly #countRooms: StatementSync;
  readonly #oldestRooms: StatementSync;
  readonly #dropRoomEvents: StatementSync;
  readonly #dropRoom: StatementSync;
  /** Rooms somebody is in: never dropped, since their members know their ids. */
  #isLive: (room: string) => boolean = () => false;
  #pending: PendingEvent[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #failing = false;
  #lostBeforeOutage = 0;
  #outageStart = 0;
  #closed = false;
  readonly #stats = { appended: 0, lost: 0, failures: 0, batches: 0 };

  readonly #lastIdOf: StatementSync;
  readonly #insert: StatementSync;
  readonly #touchRoom: StatementSync;
  readonly #trim: StatementSync;
  readonly #pruneRoom: StatementSync;
  readonly #allRooms: StatementSync;
  readonly #before: StatementSync;
  readonly #after: StatementSync;
  readonly #anyBefore: StatementSync;
  readonly #activeRooms: StatementSync;

  private constructor(
    db: DatabaseSync,
    path: string,
    settings: SqliteHistoryOptions,
    logger: Logger,
  ) {
    this.#db = db;
    this.#path = path;
    this.#logger = logger;
    this.#historySize = settings.historySize;
    this.#historyDays = settings.historyDays;
    this.#flushMs = settings.flushMs;
    this.#retryMs = settings.retryMs;
    this.#lastIdOf = db.prepare(
      `SELECT max(coalesce((SELECT last_id FROM rooms WHERE room = ?1), 0),
                  coalesce((SELECT max(id) FROM events WHERE room = ?1), 0)) AS last`,
    );
    this.#insert = db.prepare("INSERT INTO events (room, id, sent_at, event) VALUES (?, ?, ?, ?)");
    this.#maxRooms = settings.maxRooms;
    this.#countRooms = db.prepare("SELECT count(*) AS n FROM rooms");
    this.#roomsStored = (this.#countRooms.get() as { n: number }).n;
    this.#oldestRooms = db.prepare(
      "SELECT room FROM rooms ORDER BY last_sent_at, room LIMIT ?",
    );
    this.#dropRoomEvents = db.prepare("DELETE FROM events WHERE room = ?");
    this.#dropRoom = db.prepare("DELETE FROM rooms WHERE room = ?");
    this.#touchRoom = db.prepare(
      `INSERT INTO rooms (room, last_id, last_sent_at) VALUES (?, ?, ?)
       ON CONFLICT (room) DO UPDATE SET last_id = max(last_id, excluded.last_id),
                                        last_sent_at = excluded.last_sent_at`,
    );
    this.#trim = db.prepare("DELETE FROM events WHERE room = ? AND id <= ?");
    // Ids grow with time in a room: scan from the oldest up to the first message young enough.
    this.#pruneRoom = db.prepare(
      `DELETE FROM events WHERE room = ?1 AND id < coalesce(
         (SELECT id FROM events WHERE room = ?1 AND sent_at >= ?2 ORDER BY id LIMIT 1),
         9007199254740991)`,
    );
    this.#allRooms = db.prepare("SELECT room FROM rooms");
    // Reads skip messages past their age that the next pruning has yet to delete.
    this.#before = db.prepare(
      `SELECT id, event FROM events WHERE room = ? AND id < ? AND sent_at >= ?
       ORDER BY id DESC LIMIT ?`,
    );
    this.#after = db.prepare(
      `SELECT id, event FROM events WHERE room = ? AND id > ? AND sent_at >= ?
       ORDER BY id DESC LIMIT ?`,
    );
    this.#anyBefore = db.prepare(
      "SELECT 1 FROM events WHERE room = ? AND id < ? AND sent_at >= ? LIMIT 1",
    );
    this.#activeRooms = db.prepare(
      `SELECT room FROM rooms r WHERE last_sent_at >= ?1
         AND EXISTS (SELECT 1 FROM events e WHERE e.room = r.room AND e.sent_at >= ?1)
       ORDER BY last_sent_at DESC, room DESC LIMIT ?2`,
    );
  }

  /**
   * Opens `<dataDir>/history.sqlite3`, creating it when missing or empty. Throws a
   * HistoryFileError (HistoryFileCorruptError, HistoryFileForeignError,
   * HistoryFileVersionError) when the file cannot be used, and leaves it untouched.
   */
  static open(
    options: Partial<SqliteHistoryOptions> & { dataDir: string },
    logger: Logger = SILENT,
  ): SqliteHistory {
    const settings: SqliteHistoryOptions = { ...DEFAULT_SQLITE_HISTORY_OPTIONS, dataDir: "" };
    for (const [key, value] of Object.entries(options)) {
      // An option given as undefined keeps its default.
      if (value !== undefined) Object.assign(settings, { [key]: value });
    }
    const { historySize, historyDays, flushMs, retryMs } = settings;
    if (!Number.isSafeInteger(historySize) || historySize < 1) {
      throw new RangeError(`historySize must be a whole number >= 1, not ${historySize}`);
    }
    if (historyDays !== undefined && !(historyDays > 0)) {
      throw new RangeError(`historyDays must be above 0, not ${historyDays}`);
    }
    if (!(flushMs >= 0) || !(retryMs >= 0)) {
      throw new RangeError(`flushMs and retryMs must be >= 0, not ${flushMs} and ${retryMs}`);
    }
    const { db, path } = openChatDatabase(settings.dataDir);
    try {
      const history = new SqliteHistory(db, path, settings, logger);
      history.#startPruning();
      return history;
    } catch (error) {
      throw openFailure(db, path, error);
    }
  }

  /** The file's path. */
  get path(): string {
    return this.#path;
  }

  append(room: string, chatEvent: Uint8Array, sentAtUnixMs: number): bigint {
    this.#stats.appended++;
    if (this.#closed) {
      this.#stats.lost++;
      return 0n;
    }
    let last = this.#lastIds.get(room);
    if (last === undefined) {
      try {
        last = this.#storedLastId(room);
      } catch (error) {
        // Without the stored last id no id can be given out safely.
        this.#failed(error, 1);
        return 0n;
      }
    }
    const id = last + 1;
    this.#lastIds.set(room, id);
    if (this.#failing && this.#pending.length >= MAX_PENDING_WHILE_FAILING) {
      this.#stats.lost++;
      return BigInt(id);
    }
    this.#pending.push({ room, id, sentAt: sentAtUnixMs, event: chatEvent });
    this.#flushTimer ??= setTimeout(
      this.#onFlushTimer,
      this.#failing ? this.#retryMs : this.#flushMs,
    );
    return BigInt(id);
  }

  // deno-lint-ignore require-await
  async before(room: string, beforeId: bigint, count: number): Promise<HistoryPage> {
    this.#readable();
    const n = toCount(count);
    const below = beforeId <= 0n ? Number.MAX_SAFE_INTEGER : clampId(beforeId);
    try {
      const rows = this.#before.all(room, below, this.#cutoff(), n + 1) as unknown as EventRow[];
      const more = rows.length > n;
      if (more) rows.pop();
      return { events: storedEvents(rows), more };
    } catch (error) {
      throw this.#readFailed(error);
    }
  }

  // deno-lint-ignore require-await
  async after(room: string, afterId: bigint, limit: number): Promise<MissedEvents> {
    this.#readable();
    const n = toCount(limit);
    try {
      const lastId = this.#lastIds.get(room) ?? this.#storedLastId(room);
      const from = afterId < 0n ? 0 : clampId(afterId);
      const cutoff = this.#cutoff();
      const rows = from >= lastId
        ? []
        : this.#after.all(room, from, cutoff, n) as unknown as EventRow[];
      // `more`: kept messages older than the first returned (or than any returned).
      const oldest = rows.length > 0 ? rows[rows.length - 1].id : Math.min(from, lastId) + 1;
      const more = this.#anyBefore.get(room, oldest, cutoff) !== undefined;
      // Ids are dense: every id in (from, lastId] not returned was missed.
      const missed = Math.max(0, lastId - from - rows.length);
      return { events: storedEvents(rows), more, missed: BigInt(missed), lastId: BigInt(lastId) };
    } catch (error) {
      throw this.#readFailed(error);
    }
  }

  // deno-lint-ignore require-await
  async rooms(limit: number): Promise<string[]> {
    this.#readable();
    try {
      const rows = this.#activeRooms.all(this.#cutoff(), toCount(limit)) as {
        room: string;
      }[];
      return rows.map((row) => row.room);
    } catch (error) {
      throw this.#readFailed(error);
    }
  }

  stats(): SqliteHistoryStats {
    return { state: this.#failing ? "failing" : "ok", ...this.#stats };
  }

  /** Writes what is pending now rather than at the end of the batch window. */
  flush(): void {
    this.#flush();
  }

  // deno-lint-ignore require-await
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#pruneTimer);
    this.#flush();
    this.#closed = true;
    try {
      this.#db.close();
    } catch (error) {
      this.#failed(error);
    }
  }

  readonly #onFlushTimer = (): void => {
    this.#flushTimer = undefined;
    this.#flush();
  };

  #flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    const batch = this.#pending;
    if (batch.length === 0 || this.#closed) return;
    this.#pending = [];
    const db = this.#db;
    const newest = new Map<string, PendingEvent>();
    for (const pending of batch) newest.set(pending.room, pending);
    try {
      // IMMEDIATE: a locked database fails here, before any statement runs.
      db.exec("BEGIN IMMEDIATE");
      for (const pending of batch) {
        // What the batch itself pushes out of the room's history is not written at all.
        if (pending.id + this.#historySize <= newest.get(pending.room)!.id) continue;
        this.#insert.run(pending.room, pending.id, pending.sentAt, pending.event);
      }
      for (const [room, { id, sentAt }] of newest) {
        this.#touchRoom.run(room, id, sentAt);
        if (id > this.#historySize) this.#trim.run(room, id - this.#historySize);
      }
      const dropped = this.#roomsStored > this.#maxRooms + ROOMS_SLACK
        ? this.#dropOldestRooms()
        : [];
      db.exec("COMMIT");
      for (const room of dropped) this.#lastIds.delete(room);
      this.#stats.batches++;
      this.#succeeded();
    } catch (error) {
      rollBack(db);
      this.#failed(error, batch.length);
    }
  }

  #startPruning(): void {
    if (this.#historyDays === undefined) return;
    this.#pruneByAge();
    this.#pruneTimer = setInterval(() => this.#pruneByAge(), PRUNE_INTERVAL_MS);
    this.#pruneTimer.unref();
  }

  #pruneByAge(): void {
    const cutoff = this.#cutoff();
    const db = this.#db;
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const { room } of this.#allRooms.all() as { room: string }[]) {
        this.#pruneRoom.run(room, cutoff);
      }
      db.exec("COMMIT");
    } catch (error) {
      rollBack(db);
      this.#failed(error);
    }
  }

  /** Messages sent before this are past their age. */
  #cutoff(): number {
    return this.#historyDays === undefined
      ? Number.MIN_SAFE_INTEGER
      : Date.now() - this.#historyDays * DAY_MS;
  }

  #storedLastId(room: string): number {
    const last = (this.#lastIdOf.get(room) as { last: number }).last;
    // A room the file has no row for gets one at its first write.
    if (last === 0) this.#roomsStored++;
    return last;
  }

  /** Tells which rooms somebody is in now: their history is never dropped for the room cap. */
  retain(isLive: (room: string) => boolean): void {
    this.#isLive = isLive;
  }

  /**
   * Drops the history of the least recently active rooms nobody is in, past maxRooms,
   * inside the batch's transaction; returns them. Their ids begin again at 1 if they come
   * back (RoomJoined.last_event_id tells a resuming client so).
   */
  #dropOldestRooms(): string[] {
    this.#roomsStored = (this.#countRooms.get() as { n: number }).n;
    const excess = this.#roomsStored - this.#maxRooms;
    if (excess <= 0) return [];
    // Live rooms may be among the oldest: at most maxRooms of them (the server's own cap).
    const rooms = (this.#oldestRooms.all(excess + this.#maxRooms) as { room: string }[])
      .map((row) => row.room)
      .filter((room) => !this.#isLive(room))
      .slice(0, excess);
    for (const room of rooms) {
      this.#dropRoomEvents.run(room);
      this.#dropRoom.run(room);
    }
    this.#roomsStored -= rooms.length;
    return rooms;
  }

  /** Reads see every message appended before them, and are refused while storage fails. */
  #readable(): void {
    if (this.#closed) throw new HistoryUnavailableError("history is closed");
    this.#flush();
    if (this.#failing) {
      throw new HistoryUnavailableError(`history storage is failing (${this.#path})`);
    }
  }

  #readFailed(error: unknown): HistoryUnavailableError {
    this.#failed(error);
    return new HistoryUnavailableError(`cannot read history: ${describeError(error)}`, {
      cause: error,
    });
  }

  /** Counts a failure, and the messages it lost; logs the first of an outage. */
  #failed(error: unknown, lost = 0): void {
    this.#stats.failures++;
    if (!this.#failing) this.#lostBeforeOutage = this.#stats.lost;
    this.#stats.lost += lost;
    if (this.#failing) return;
    this.#failing = true;
    this.#outageStart = performance.now();
    const reason = describeError(error);
    this.#logger.log(
      "warn",
      "history_failing",
      `history: cannot write to ${this.#path} (${reason}): messages are not kept and ` +
        `history cannot be read until it recovers`,
      { path: this.#path, reason },
    );
  }

  #succeeded(): void {
    if (!this.#failing) return;
    this.#failing = false;
    const lost = this.#stats.lost - this.#lostBeforeOutage;
    const seconds = Math.round((performance.now() - this.#outageStart) / 100) / 10;
    this.#logger.log(
      "notice",
      "history_recovered",
      `history: ${this.#path} is written again after ${seconds} s; ${
        countNoun(lost, "message")
      } lost meanwhile`,
      { path: this.#path, lost, seconds },
    );
  }
}

/** Ids past what a number holds exactly are past any id given out. */
function clampId(id: bigint): number {
  return id > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(id);
}

/** A count or limit SQLite takes: a whole number from 0, below the largest exact one. */
function toCount(value: number): number {
  if (!(value > 0)) return 0;
  return Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER - 1);
}

/** Rows newest first, as the queries read them, to events oldest first. */
function storedEvents(rows: EventRow[]): StoredEvent[] {
  const events: StoredEvent[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[rows.length - 1 - i];
    events[i] = { eventId: BigInt(row.id), chatEvent: row.event };
  }
  return events;
}
