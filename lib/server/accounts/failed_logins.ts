import { type Clock, realClock } from "../../util/clock.ts";
import type { Logger } from "../logger.ts";
import { isLoopback } from "../connections_per_address.ts";

export interface FailedLoginLimits {
  /** Wrong passwords for one account before it is locked. @default 5 */
  perAccount: number;
  /** Wrong passwords from one IP address, whatever the account, before it is locked. @default 20 */
  perAddress: number;
  /** A burst of failures ends after this long without one; then all is forgotten. @default 15 min */
  windowMs: number;
  /** The first lock of a burst; each further one doubles, up to windowMs. @default 60 s */
  lockMs: number;
  /**
   * Whether failures from loopback addresses are counted per address: off, as the per-IP
   * connection cap, since a reverse proxy on the host makes every user 127.0.0.1.
   * @default false
   */
  limitLoopback: boolean;
}

export const DEFAULT_FAILED_LOGIN_LIMITS: Readonly<FailedLoginLimits> = Object.freeze({
  perAccount: 5,
  perAddress: 20,
  windowMs: 15 * 60_000,
  lockMs: 60_000,
  limitLoopback: false,
});

/** Accounts and addresses tracked at most: past it, the oldest are forgotten first. */
const MAX_TALLIES = 100_000;

/**
 * The addresses an account's burst remembers. Past it, a locked account is locked for every
 * address: a guesser with that many addresses gets no try more each.
 */
const MAX_OTHERS = 100;

/** Who is locked, and for how much longer. */
export interface Lock {
  by: "account" | "address";
  ms: number;
}

/** A burst of failures for one account or from one address. */
interface Tally {
  /** Failures since the last lock. */
  failures: number;
  /** All failures of the burst, for the log. */
  total: number;
  firstAt: number;
  lastAt: number;
  lockedUntil: number;
  locks: number;
  /** The addresses an account's failures came from, or the accounts an address tried. */
  others: Set<string>;
}

/**
 * Counts wrong passwords per account and per address (on this server: a cluster's servers
 * count apart), and locks either once it has too many: no password is checked for it
 * until the lock ends. An account is locked for the addresses it failed from (so its owner,
 * elsewhere, still gets in). Each lock is logged in one line, never each try.
 */
export class FailedLogins {
  readonly #limits: FailedLoginLimits;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #accounts = new Map<string, Tally>();
  readonly #addresses = new Map<string, Tally>();

  constructor(limits: Partial<FailedLoginLimits>, logger: Logger, clock: Clock = realClock) {
    this.#limits = { ...DEFAULT_FAILED_LOGIN_LIMITS, ...limits };
    this.#logger = logger;
    this.#clock = clock;
  }

  /** The lock on this account or address, if any, or undefined when a try may go on. */
  lock(accountKey: string, address: string): Lock | undefined {
    const now = this.#clock.now();
    const account = this.#current(this.#accounts, accountKey, now);
    const byAddress = this.#countsAddress(address)
      ? this.#current(this.#addresses, address, now)
      : undefined;
    const accountMs = (account?.lockedUntil ?? 0) - now;
    const addressMs = (byAddress?.lockedUntil ?? 0) - now;
    if (addressMs > 0 && addressMs >= accountMs) return { by: "address", ms: addressMs };
    // A locked account still takes a try from an address that has not failed for it: else
    // anyone could lock its owner out with five wrong passwords. A guesser's next address
    // gets one try, then is locked for it too.
    if (accountMs > 0 && (account!.others.has(address) || account!.others.size >= MAX_OTHERS)) {
      return { by: "account", ms: accountMs };
    }
    return undefined;
  }

  /** A wrong password for `nickname` (of key `accountKey`) from `address`. */
  failed(accountKey: string, nickname: string, address: string): void {
    const now = this.#clock.now();
    const account = this.#count(this.#accounts, accountKey, address, now);
    if (account.failures >= this.#limits.perAccount) {
      const ms = this.#lockFor(account, now);
      this.#log(
        `failed logins: ${account.total} for ${nickname} from ${list(account.others)}`,
        account,
        ms,
        { nickname, addresses: account.others.size },
      );
    }
    if (!this.#countsAddress(address)) return;
    const byAddress = this.#count(this.#addresses, address, nickname, now);
    if (byAddress.failures >= this.#limits.perAddress) {
      const ms = this.#lockFor(byAddress, now);
      this.#log(
        `failed logins: ${byAddress.total} from ${address} for ${list(byAddress.others)}`,
        byAddress,
        ms,
        { peer: address, accounts: byAddress.others.size },
      );
    }
  }

  /** The right password: the account's failures are forgotten (the address's are not). */
  succeeded(accountKey: string): void {
    this.#accounts.delete(accountKey);
  }

  #countsAddress(address: string): boolean {
    return this.#limits.limitLoopback || !isLoopback(address);
  }

  /** The tally under `key`, unless its burst is over (then it is forgotten). */
  #current(tallies: Map<string, Tally>, key: string, now: number): Tally | undefined {
    const tally = tallies.get(key);
    if (tally === undefined) return undefined;
    if (now - tally.lastAt < this.#limits.windowMs || now < tally.lockedUntil) return tally;
    tallies.delete(key);
    return undefined;
  }

  #count(tallies: Map<string, Tally>, key: string, other: string, now: number): Tally {
    let tally = this.#current(tallies, key, now);
    if (tally === undefined) {
      if (tallies.size >= MAX_TALLIES) tallies.delete(tallies.keys().next().value!);
      tally = {
        failures: 0,
        total: 0,
        firstAt: now,
        lastAt: now,
        lockedUntil: 0,
        locks: 0,
        others: new Set(),
      };
      tallies.set(key, tally);
    }
    tally.failures++;
    tally.total++;
    tally.lastAt = now;
    if (tally.others.size < MAX_OTHERS) tally.others.add(other);
    return tally;
  }

  /** Locks the tally's key: 1, 2, 4... times lockMs within a burst. */
  #lockFor(tally: Tally, now: number): number {
    const ms = Math.min(this.#limits.lockMs * 2 ** tally.locks, this.#limits.windowMs);
    tally.locks++;
    tally.failures = 0;
    tally.lockedUntil = now + ms;
    return ms;
  }

  #log(what: string, tally: Tally, lockMs: number, fields: Record<string, string | number>): void {
    const seconds = Math.round((tally.lastAt - tally.firstAt) / 1000);
    this.#logger.log(
      "warn",
      "failed_logins",
      `${what} in ${seconds} s; locked for ${Math.round(lockMs / 1000)} s`,
      { ...fields, failures: tally.total, seconds, locked_seconds: Math.round(lockMs / 1000) },
    );
  }
}

/** "a", "a and b", "a, b and 3 more". */
function list(items: Set<string>): string {
  const all = [...items];
  if (all.length <= 2) return all.join(" and ");
  return `${all.slice(0, 2).join(", ")} and ${all.length - 2} more`;
}
