import { nicknameKey } from "../../protocol/nickname.ts";
import { isLoopback } from "../connections_per_address.ts";
import type { Account, AccountStore } from "./account_store.ts";
import type { FailedLogins, Lock } from "./failed_logins.ts";
import { HashTurns } from "./hash_turns.ts";
import { hashPassword, verifyDummy, verifyPassword } from "./password_hash.ts";
import { RegistrationLimit } from "./registration_limit.ts";

/** What a password check found. */
export type LoginResult =
  | { kind: "identified"; key: string; account: Account }
  | { kind: "wrong" }
  | { kind: "unknown" }
  | { kind: "locked"; lock: Lock };

/** What became of a registration. */
export type RegisterResult =
  | { kind: "registered"; key: string }
  /** The nickname, or a look-alike, has an account. */
  | { kind: "taken" }
  /** The server has maxAccounts accounts. */
  | { kind: "full"; maxAccounts: number }
  /** The requester registered REGISTRATIONS_PER_WINDOW accounts lately. */
  | { kind: "too_often"; waitMs: number };

/** Who asks: a connection, and the IP address it comes from. */
export interface AccountRequester {
  address: string;
  connection: bigint;
}

export interface AccountLimits {
  /** Accounts at most; registering past it is refused. @default Infinity (the operator's command) */
  maxAccounts: number;
  /**
   * Whether requests from loopback addresses are counted per address, as other addresses
   * are. Off, as the per-IP connection cap: a reverse proxy on the host makes every user
   * 127.0.0.1, and one count for all of them would let one user lock everyone out; they are
   * counted per connection instead. @default false
   */
  limitLoopback: boolean;
}

/**
 * The server's accounts: the store, the password hashes, and the limits on them (failed
 * logins, registrations per requester, accounts in all, hashes per requester). Every method
 * may reject with AccountsUnavailableError (the store), PasswordHashBusyError (too many
 * hashes waiting in the server) or HashTurnRefusedError (too many for the requester).
 */
export class Accounts {
  readonly #store: AccountStore;
  readonly #failedLogins: FailedLogins;
  readonly #limits: AccountLimits;
  readonly #registrations = new RegistrationLimit();
  readonly #hashTurns = new HashTurns();

  constructor(
    store: AccountStore,
    failedLogins: FailedLogins,
    limits: Partial<AccountLimits> = {},
  ) {
    this.#store = store;
    this.#failedLogins = failedLogins;
    this.#limits = { maxAccounts: Infinity, limitLoopback: false, ...limits };
  }

  /** The account of `nickname` or of a look-alike, or undefined. */
  find(nickname: string): Promise<Account | undefined> {
    return this.#store.get(nicknameKey(nickname));
  }

  /**
   * Checks `password` for `nickname`'s account (or a look-alike's), unless the account or
   * the requester's address is locked for failing too often. A name without an account
   * costs as long as one with, and counts as a failure too: guessing names is guessing.
   */
  async login(
    nickname: string,
    password: string,
    from: AccountRequester,
  ): Promise<LoginResult> {
    const key = nicknameKey(nickname);
    const lock = this.#failedLogins.lock(key, from.address);
    if (lock !== undefined) return { kind: "locked", lock };
    const account = await this.#store.get(key);
    const right = await this.#hashTurns.run(
      this.#requester(from),
      () =>
        account === undefined
          ? verifyDummy(password)
          : verifyPassword(password, account.passwordHash),
    );
    if (!right) {
      this.#failedLogins.failed(key, account?.nickname ?? nickname, from.address);
      return { kind: account === undefined ? "unknown" : "wrong" };
    }
    this.#failedLogins.succeeded(key);
    return { kind: "identified", key, account: account! };
  }

  /**
   * Registers `nickname` with `password`, within the limits; `from` undefined is the
   * operator, whom they do not bind. The cheap checks come before the hash.
   */
  async register(
    nickname: string,
    password: string,
    from?: AccountRequester,
  ): Promise<RegisterResult> {
    const key = nicknameKey(nickname);
    const requester = from === undefined ? undefined : this.#requester(from);
    if (requester !== undefined) {
      const waitMs = this.#registrations.waitMs(requester);
      if (waitMs > 0) return { kind: "too_often", waitMs };
      // Registrations under way at once may pass it by a few.
      if (await this.#store.count() >= this.#limits.maxAccounts) {
        return { kind: "full", maxAccounts: this.#limits.maxAccounts };
      }
    }
    if (await this.#store.get(key) !== undefined) return { kind: "taken" };
    const passwordHash = requester === undefined
      ? await hashPassword(password)
      : await this.#hashTurns.run(requester, () => hashPassword(password));
    if (!await this.#store.add(key, { nickname, passwordHash, createdAt: Date.now() })) {
      return { kind: "taken" };
    }
    if (requester !== undefined) this.#registrations.registered(requester);
    return { kind: "registered", key };
  }

  /** False when the account is gone. */
  async changePassword(key: string, password: string, from: AccountRequester): Promise<boolean> {
    const passwordHash = await this.#hashTurns.run(
      this.#requester(from),
      () => hashPassword(password),
    );
    return this.#store.setPasswordHash(key, passwordHash);
  }

  /** False when the account was gone already. */
  remove(key: string): Promise<boolean> {
    return this.#store.remove(key);
  }

  /** Whether the account under `key` still exists. */
  async exists(key: string): Promise<boolean> {
    return await this.#store.get(key) !== undefined;
  }

  /** What the per-requester limits count: the address, or for loopback the connection. */
  #requester({ address, connection }: AccountRequester): string {
    return this.#limits.limitLoopback || !isLoopback(address)
      ? address
      : `${address} connection ${connection}`;
  }
}
