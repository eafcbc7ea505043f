import type { Backplane } from "../server/backplane.ts";
import { BackplaneConnectError } from "../server/errors.ts";
import type { Logger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";

/**
 * Joins the cluster behind `options.redisUrl`. The Redis backplane is loaded only here:
 * ioredis reads the whole environment (for DEBUG) as it loads, so a server that runs alone
 * needs no --allow-env. Every failure to join is a BackplaneConnectError, in plain words.
 */
export async function connectRedisBackplane(
  options: Pick<ServerOptions, "clusterExpirySeconds" | "redisCa"> & { redisUrl: string },
  logger: Logger,
): Promise<Backplane> {
  let module: typeof import("../server/redis/redis_backplane.ts");
  try {
    module = await import("../server/redis/redis_backplane.ts");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new BackplaneConnectError(
      "Cannot load the Redis client: run the server with --allow-env for --redis",
      { cause: error },
    );
  }
  return await module.RedisBackplane.connect(
    { url: options.redisUrl, ca: options.redisCa, expirySeconds: options.clusterExpirySeconds },
    logger,
  );
}
