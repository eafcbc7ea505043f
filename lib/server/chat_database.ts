import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describeError } from "../util/describe_error.ts";
import {
  HistoryFileCorruptError,
  HistoryFileError,
  HistoryFileForeignError,
  HistoryFileVersionError,
} from "./errors.ts";

/**
 * The server's one SQLite file in --data-dir: room history (SqliteHistory) and accounts
 * (SqliteAccounts). Each store opens its own connection through openChatDatabase, which
 * checks the file and makes or completes its schema, and closes it itself. node:sqlite is
 * synchronous, so two connections of one thread never hold a transaction at once; WAL
 * lets `server accounts` write from another process beside a running server.
 */
export const HISTORY_FILE_NAME = "history.sqlite3";
/** "CHAT" in the file's header (PRAGMA application_id): tells our files from others. */
export const HISTORY_APPLICATION_ID = 0x43484154;
/** PRAGMA user_version of the schema below. */
const SCHEMA_VERSION = 1;
const SQLITE_MAGIC = "SQLite format 3\0";
/** Short, so a database another process locks never stalls the event loop for long. */
export const SERVER_BUSY_TIMEOUT_MS = 20;

// rooms.last_id keeps ids growing after every message of a room has aged out.
const SCHEMA = `
  CREATE TABLE events (
    room TEXT NOT NULL,
    id INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (room, id)
  ) WITHOUT ROWID;
  CREATE TABLE rooms (
    room TEXT NOT NULL PRIMARY KEY,
    last_id INTEGER NOT NULL,
    last_sent_at INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

// Made at every open, IF NOT EXISTS: files of the first version of the schema lack them,
// and a server that does not know them leaves them alone, so the version stays 1.
const ADDITIONS = `
  CREATE INDEX IF NOT EXISTS rooms_by_activity ON rooms (last_sent_at, room);
  CREATE TABLE IF NOT EXISTS accounts (
    key TEXT NOT NULL PRIMARY KEY,
    nickname TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

/**
 * Opens `<dataDir>/history.sqlite3`, creating it (and the folder) when missing or empty,
 * and returns the connection and the file's path. Throws a HistoryFileError
 * (HistoryFileCorruptError, HistoryFileForeignError, HistoryFileVersionError) when the
 * file cannot be used, and leaves it untouched; Deno's NotCapable as it comes.
 */
export function openChatDatabase(
  dataDir: string,
  busyTimeoutMs = SERVER_BUSY_TIMEOUT_MS,
): { db: DatabaseSync; path: string } {
  const path = join(dataDir, HISTORY_FILE_NAME);
  try {
    // The owner's alone: the file holds the accounts' password hashes.
    Deno.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fileError(path, error);
  }
  // The header is checked before SQLite opens the file: SQLite may write beside a file
  // it only reads (-wal, -shm), and a foreign file must be left exactly as it was.
  const fresh = checkHeader(path);
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    ownerOnly(path);
    prepareDatabase(db, path, fresh, busyTimeoutMs);
    return { db, path };
  } catch (error) {
    throw openFailure(db, path, error);
  }
}

/** Closes a connection that could not be set up, and says why in a HistoryFileError. */
export function openFailure(db: DatabaseSync | undefined, path: string, error: unknown): Error {
  try {
    db?.close();
  } catch {
    // Already broken; the first error says why.
  }
  if (error instanceof HistoryFileError || error instanceof Deno.errors.NotCapable) return error;
  const reason = describeError(error);
  if (/not a database|malformed/.test(reason)) {
    return new HistoryFileCorruptError(path, reason, { cause: error });
  }
  return new HistoryFileError(path, reason, { cause: error });
}

/**
 * Whether the file is to be created (missing or empty). Throws when it is not our own
 * database, having only read its first 100 bytes.
 */
function checkHeader(path: string): boolean {
  let header: Uint8Array;
  try {
    using file = Deno.openSync(path, { read: true });
    header = new Uint8Array(100);
    let filled = 0;
    while (filled < header.length) {
      const read = file.readSync(header.subarray(filled));
      if (read === null) break;
      filled += read;
    }
    header = header.subarray(0, filled);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw fileError(path, error);
  }
  if (header.length === 0) return true;
  if (header.length < 100 || new TextDecoder().decode(header.subarray(0, 16)) !== SQLITE_MAGIC) {
    throw new HistoryFileCorruptError(path, "file is not a database");
  }
  const applicationId = new DataView(header.buffer, header.byteOffset).getUint32(68);
  if (applicationId !== HISTORY_APPLICATION_ID) throw foreign(path, applicationId);
  return false;
}

function prepareDatabase(
  db: DatabaseSync,
  path: string,
  fresh: boolean,
  busyTimeoutMs: number,
): void {
  db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  if (fresh) {
    // One transaction, so a crash leaves either an empty file or a whole schema.
    db.exec("BEGIN IMMEDIATE");
    try {
      // Another process may have filled the empty file since the header was read.
      const applicationId = pragma(db, "application_id");
      const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number })
        .n;
      if (applicationId !== 0 || tables !== 0) throw foreign(path, applicationId);
      db.exec(`PRAGMA application_id = ${HISTORY_APPLICATION_ID}`);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      db.exec(SCHEMA);
      db.exec("COMMIT");
    } catch (error) {
      rollBack(db);
      throw error;
    }
  } else {
    const version = pragma(db, "user_version");
    if (version > SCHEMA_VERSION) {
      throw new HistoryFileVersionError(
        path,
        `it was written by a newer server (schema ${version}; this one knows ${SCHEMA_VERSION})`,
      );
    }
  }
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec(ADDITIONS);
}

function pragma(db: DatabaseSync, name: string): number {
  return Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0] as number;
}

function foreign(path: string, applicationId: number): HistoryFileForeignError {
  const hex = applicationId.toString(16).padStart(8, "0");
  return new HistoryFileForeignError(
    path,
    `it is not a chat history database (application_id 0x${hex})`,
  );
}

/** Deno's NotCapable (a missing --allow-read or --allow-write) is left for the caller to explain. */
function fileError(path: string, error: unknown): Error {
  if (error instanceof Deno.errors.NotCapable) return error;
  const reason = error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Deno.errors.IsADirectory
    ? "it is a directory"
    : describeError(error);
  return new HistoryFileError(path, reason, { cause: error });
}

export function rollBack(db: DatabaseSync): void {
  if (!db.isOpen || !db.isTransaction) return;
  try {
    db.exec("ROLLBACK");
  } catch {
    // SQLite rolls back on its own when it cannot go on.
  }
}

/**
 * Readable by its owner alone, also in a folder made before (SQLite gives its -wal and -shm
 * files the same mode). Windows has no such modes; a file owned by another user is left so.
 */
function ownerOnly(path: string): void {
  if (Deno.build.os === "windows") return;
  try {
    Deno.chmodSync(path, 0o600);
  } catch {
    // Not ours to change: the operator chose its permissions.
  }
}
