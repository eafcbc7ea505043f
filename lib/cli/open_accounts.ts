import { type AccountStore, NoAccounts } from "../server/accounts/account_store.ts";
import { SqliteAccounts } from "../server/accounts/sqlite_accounts.ts";
import { BackplaneConnectError } from "../server/errors.ts";
import type { Logger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";

/** Why the server cannot keep accounts where it was told to, in plain words. */
export class AccountsOpenError extends Error {
  override name = "AccountsOpenError";
}

/**
 * The account store the options ask for: Redis's with --redis (a cluster shares it),
 * else the table in --data-dir/history.sqlite3, which the first registration makes when
 * history did not. None, with a notice, when Deno's permissions do not allow that folder;
 * then --require-account cannot start. Throws AccountsOpenError.
 */
export async function openAccounts(
  options: Pick<ServerOptions, "dataDir" | "redisUrl" | "redisCa" | "requireAccount">,
  logger: Logger,
): Promise<AccountStore> {
  const { dataDir, redisUrl } = options;
  if (redisUrl !== undefined) {
    // Loaded here only, as the backplane is: ioredis needs --allow-env.
    const { RedisAccounts } = await import("../server/redis/redis_accounts.ts");
    try {
      return await RedisAccounts.connect(redisUrl, options.redisCa);
    } catch (error) {
      if (error instanceof BackplaneConnectError) throw new AccountsOpenError(error.message);
      throw error;
    }
  }
  const allowed = (["read", "write"] as const).every((name) =>
    Deno.permissions.querySync({ name, path: dataDir }).state === "granted"
  );
  if (allowed) return new SqliteAccounts(dataDir);
  const why = `run the server with --allow-read and --allow-write to keep accounts in ${dataDir}`;
  if (options.requireAccount) throw new AccountsOpenError(`Cannot --require-account: ${why}`);
  logger.log("notice", "accounts_off", `accounts are off: ${why}`, { data_dir: dataDir });
  return new NoAccounts(`This server keeps no accounts (its operator may ${why})`);
}
