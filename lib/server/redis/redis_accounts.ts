import { Redis } from "ioredis";
import { waitAtMost } from "../../util/wait_at_most.ts";
import { describeError } from "../../util/describe_error.ts";
import {
  type Account,
  type AccountStore,
  AccountsUnavailableError,
} from "../accounts/account_store.ts";
import { connectRedis, redisAddress } from "./redis_connection.ts";

/**
 * Hash: nickname key -> the account as JSON ({n: nickname, h: password hash, c: created
 * at}). One hash for all accounts: HSETNX registers atomically, HSCAN lists them.
 */
const ACCOUNTS = "chat:accounts";

/** How long one command may take: a login waits on it. */
const COMMAND_TIMEOUT_MS = 2000;

/** ARGV: key, record. Replaces an account's record only if it still exists: 1, else 0. */
const REPLACE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

type ScriptedRedis = Redis & {
  replaceAccount(hash: string, key: string, record: string): Promise<number>;
};

interface AccountRecord {
  n: string;
  h: string;
  c: number;
}

/** Accounts in Redis (--redis), so that every server of a cluster knows them. */
export class RedisAccounts implements AccountStore {
  readonly #redis: ScriptedRedis;
  readonly #where: string;

  private constructor(redis: ScriptedRedis, where: string) {
    this.#redis = redis;
    this.#where = where;
  }

  /**
   * Connects; throws BackplaneConnectError with the reason when Redis cannot be reached.
   * `ca`: PEM CA certificates to trust for a rediss:// URL, as --redis-ca gives.
   */
  static async connect(url: string, ca?: string): Promise<RedisAccounts> {
    const redis = await connectRedis(url, "accounts", COMMAND_TIMEOUT_MS, ca);
    redis.defineCommand("replaceAccount", { numberOfKeys: 1, lua: REPLACE });
    return new RedisAccounts(redis as ScriptedRedis, redisAddress(url));
  }

  get(key: string): Promise<Account | undefined> {
    return this.#run(async (redis) => {
      const record = await redis.hget(ACCOUNTS, key);
      return record === null ? undefined : account(record);
    });
  }

  add(key: string, account: Account): Promise<boolean> {
    return this.#run(async (redis) => await redis.hsetnx(ACCOUNTS, key, record(account)) === 1);
  }

  setPasswordHash(key: string, passwordHash: string): Promise<boolean> {
    return this.#run(async (redis) => {
      const stored = await redis.hget(ACCOUNTS, key);
      if (stored === null) return false;
      const updated = { ...account(stored), passwordHash };
      return await redis.replaceAccount(ACCOUNTS, key, record(updated)) === 1;
    });
  }

  remove(key: string): Promise<boolean> {
    return this.#run(async (redis) => await redis.hdel(ACCOUNTS, key) === 1);
  }

  list(): Promise<Account[]> {
    return this.#run(async (redis) => {
      const accounts: Account[] = [];
      let cursor = "0";
      do {
        const [next, entries] = await redis.hscan(ACCOUNTS, cursor, "COUNT", 500);
        cursor = next;
        for (let i = 1; i < entries.length; i += 2) accounts.push(account(entries[i]));
      } while (cursor !== "0");
      return accounts.sort((a, b) => a.nickname < b.nickname ? -1 : 1);
    });
  }

  count(): Promise<number> {
    return this.#run((redis) => redis.hlen(ACCOUNTS));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#redis.status === "ready") await waitAtMost(this.#redis.quit(), 1000);
    this.#redis.disconnect();
  }

  async #run<T>(command: (redis: ScriptedRedis) => Promise<T>): Promise<T> {
    if (this.#redis.status !== "ready") {
      throw new AccountsUnavailableError(
        `Accounts are unavailable: Redis at ${this.#where} is out of reach`,
      );
    }
    try {
      return await command(this.#redis);
    } catch (error) {
      throw new AccountsUnavailableError(
        `Accounts are unavailable: Redis at ${this.#where} failed (${describeError(error)})`,
        { cause: error },
      );
    }
  }
}

function record(account: Account): string {
  return JSON.stringify({ n: account.nickname, h: account.passwordHash, c: account.createdAt });
}

function account(text: string): Account {
  const { n, h, c } = JSON.parse(text) as AccountRecord;
  return { nickname: n, passwordHash: h, createdAt: c };
}
