import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { describeError } from "../../util/describe_error.ts";
import { HISTORY_FILE_NAME, openChatDatabase, SERVER_BUSY_TIMEOUT_MS } from "../chat_database.ts";
import { type Account, type AccountStore, AccountsUnavailableError } from "./account_store.ts";

interface AccountRow {
  nickname: string;
  password_hash: string;
  created_at: number;
}

/**
 * Accounts in the server's SQLite file (--data-dir/history.sqlite3), table `accounts`.
 * The file is opened at the first use that finds it, and made by the first registration:
 * a server with --history-size 0 and no accounts leaves no file behind. Other processes
 * (`server accounts`) may write beside it: each change is one statement.
 */
export class SqliteAccounts implements AccountStore {
  readonly #dataDir: string;
  readonly #busyTimeoutMs: number;
  #db: DatabaseSync | undefined;
  #closed = false;

  /** `busyTimeoutMs`: how long to wait for another process's write; short in a server. */
  constructor(dataDir: string, busyTimeoutMs = SERVER_BUSY_TIMEOUT_MS) {
    this.#dataDir = dataDir;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  get(key: string): Promise<Account | undefined> {
    return this.#run(false, (db) => {
      const row = db.prepare(
        "SELECT nickname, password_hash, created_at FROM accounts WHERE key = ?",
      ).get(key) as AccountRow | undefined;
      return row === undefined ? undefined : account(row);
    }, undefined);
  }

  add(key: string, account: Account): Promise<boolean> {
    return this.#run(true, (db) =>
      db.prepare(
        `INSERT INTO accounts (key, nickname, password_hash, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO NOTHING`,
      ).run(key, account.nickname, account.passwordHash, account.createdAt).changes === 1);
  }

  setPasswordHash(key: string, passwordHash: string): Promise<boolean> {
    return this.#run(
      false,
      (db) =>
        db.prepare("UPDATE accounts SET password_hash = ? WHERE key = ?").run(passwordHash, key)
          .changes === 1,
      false,
    );
  }

  remove(key: string): Promise<boolean> {
    return this.#run(
      false,
      (db) => db.prepare("DELETE FROM accounts WHERE key = ?").run(key).changes === 1,
      false,
    );
  }

  list(): Promise<Account[]> {
    return this.#run(false, (db) =>
      (db.prepare(
        "SELECT nickname, password_hash, created_at FROM accounts ORDER BY nickname",
      ).all() as unknown as AccountRow[]).map(account), []);
  }

  count(): Promise<number> {
    return this.#run(
      false,
      (db) => (db.prepare("SELECT COUNT(*) AS n FROM accounts").get() as { n: number }).n,
      0,
    );
  }

  // deno-lint-ignore require-await
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }

  /**
   * Runs `use` on the database; without a file yet, answers `absent` (when given) rather
   * than make one. Failures become AccountsUnavailableError.
   */
  // deno-lint-ignore require-await
  async #run<T>(create: boolean, use: (db: DatabaseSync) => T, absent?: T): Promise<T> {
    if (this.#closed) throw new AccountsUnavailableError("Accounts are closed");
    try {
      if (this.#db === undefined) {
        if (!create && !existsSync(join(this.#dataDir, HISTORY_FILE_NAME))) return absent as T;
        this.#db = openChatDatabase(this.#dataDir, this.#busyTimeoutMs).db;
      }
      return use(this.#db);
    } catch (error) {
      throw new AccountsUnavailableError(
        `Accounts cannot be read or written: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  }
}

function account(row: AccountRow): Account {
  return { nickname: row.nickname, passwordHash: row.password_hash, createdAt: row.created_at };
}
