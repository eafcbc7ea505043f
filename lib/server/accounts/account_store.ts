/** A registered nickname. */
export interface Account {
  /** The nickname as it was registered, shown as such. */
  nickname: string;
  /** From hashPassword: "scrypt$15$8$1$<salt>$<hash>". */
  passwordHash: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/**
 * Where accounts are kept. Each is under its nickname's key (nicknameKey), the form under
 * which nicknames are unique, so that a look-alike of a registered name finds its account.
 * Methods reject with AccountsUnavailableError when the storage cannot be reached.
 */
export interface AccountStore extends AsyncDisposable {
  /** The account under `key`, or undefined. */
  get(key: string): Promise<Account | undefined>;
  /** Adds an account; false, changing nothing, when `key` has one already. */
  add(key: string, account: Account): Promise<boolean>;
  /** Replaces the account's password hash; false when there is no account under `key`. */
  setPasswordHash(key: string, passwordHash: string): Promise<boolean>;
  /** Deletes the account; false when there was none. */
  remove(key: string): Promise<boolean>;
  /** Every account, by registered nickname. */
  list(): Promise<Account[]>;
  /** How many accounts there are. */
  count(): Promise<number>;
}

/** The accounts' storage cannot be used now; the message says why. */
export class AccountsUnavailableError extends Error {
  override name = "AccountsUnavailableError";
}

/**
 * No accounts kept (`why` says why): nobody is registered, and registering is refused
 * with AccountsUnavailableError(why).
 */
export class NoAccounts implements AccountStore {
  readonly #why: string;

  constructor(why: string) {
    this.#why = why;
  }

  get(): Promise<Account | undefined> {
    return Promise.resolve(undefined);
  }

  add(): Promise<boolean> {
    return Promise.reject(new AccountsUnavailableError(this.#why));
  }

  setPasswordHash(): Promise<boolean> {
    return Promise.resolve(false);
  }

  remove(): Promise<boolean> {
    return Promise.resolve(false);
  }

  list(): Promise<Account[]> {
    return Promise.resolve([]);
  }

  count(): Promise<number> {
    return Promise.resolve(0);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
