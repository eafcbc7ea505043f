import { nicknameKey } from "../../protocol/nickname.ts";
import type { Account, AccountStore } from "./account_store.ts";
import type { FailedLogins, Lock } from "./failed_logins.ts";
import { hashPassword, verifyDummy, verifyPassword } from "./password_hash.ts";

/** What a password check found. */
export type LoginResult =
  | { kind: "identified"; key: string; account: Account }
  | { kind: "wrong" }
  | { kind: "unknown" }
  | { kind: "locked"; lock: Lock };

/**
 * The server's accounts: the store, the password hashes and the failed-login limits.
 * Every method may reject with AccountsUnavailableError (the store) or
 * PasswordHashBusyError (too many hashes waiting).
 */
export class Accounts {
  readonly #store: AccountStore;
  readonly #failedLogins: FailedLogins;

  constructor(store: AccountStore, failedLogins: FailedLogins) {
    this.#store = store;
    this.#failedLogins = failedLogins;
  }

  /** The account of `nickname` or of a look-alike, or undefined. */
  find(nickname: string): Promise<Account | undefined> {
    return this.#store.get(nicknameKey(nickname));
  }

  /**
   * Checks `password` for `nickname`'s account (or a look-alike's), unless the account or
   * `address` is locked for failing too often. A name without an account costs as long as
   * one with, and counts as a failure too: guessing names is guessing.
   */
  async login(nickname: string, password: string, address: string): Promise<LoginResult> {
    const key = nicknameKey(nickname);
    const lock = this.#failedLogins.lock(key, address);
    if (lock !== undefined) return { kind: "locked", lock };
    const account = await this.#store.get(key);
    const right = account === undefined
      ? await verifyDummy(password)
      : await verifyPassword(password, account.passwordHash);
    if (!right) {
      this.#failedLogins.failed(key, account?.nickname ?? nickname, address);
      return { kind: account === undefined ? "unknown" : "wrong" };
    }
    this.#failedLogins.succeeded(key);
    return { kind: "identified", key, account: account! };
  }

  /** Registers `nickname` with `password`; undefined when it (or a look-alike) has an account. */
  async register(nickname: string, password: string): Promise<string | undefined> {
    const key = nicknameKey(nickname);
    const passwordHash = await hashPassword(password);
    const added = await this.#store.add(key, { nickname, passwordHash, createdAt: Date.now() });
    return added ? key : undefined;
  }

  /** False when the account is gone. */
  async changePassword(key: string, password: string): Promise<boolean> {
    return this.#store.setPasswordHash(key, await hashPassword(password));
  }

  /** False when the account was gone already. */
  remove(key: string): Promise<boolean> {
    return this.#store.remove(key);
  }
}
