import { Redis, type RedisOptions } from "ioredis";
import { BackplaneConnectError } from "../errors.ts";
import { backoffDelay } from "../../client/backoff.ts";
import { describeError } from "../../util/describe_error.ts";

/**
 * Options for a connection of the server's to Redis. Commands fail at once while Redis is
 * away, rather than pile up in a queue: their callers keep what must wait. No retries
 * while `connecting()` (at start-up the error goes to the person starting the server);
 * later, reconnects with backoff. `commandTimeout`: how long one command may wait on a
 * Redis that stopped answering (a timer per command, so only where it matters). `ca`: PEM
 * CA certificates to trust besides the system's, for a `rediss://` URL (which alone turns
 * TLS on).
 */
export function failFastOptions(
  connecting: () => boolean,
  commandTimeout?: number,
  ca?: string,
): RedisOptions {
  return {
    ...(ca !== undefined && { tls: { ca } }),
    lazyConnect: true,
    enableOfflineQueue: false,
    // The commands of one tick go out as one write.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    commandTimeout,
    retryStrategy: (attempt) =>
      connecting() ? null : backoffDelay(attempt, { initialMs: 100, maxMs: 2000 }),
  };
}

/** "host:port" from a Redis URL, without the password. */
export function redisAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || "6379"}`;
}

/** Why a connection failed, in plain words. */
export function redisFailure(error: unknown): string {
  const code = (error as { code?: string } | undefined)?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "ETIMEDOUT") return "timed out";
  return describeError(error);
}

/**
 * A connection of the server's to Redis, for `purpose` ("history", "accounts"), made with
 * failFastOptions. Throws BackplaneConnectError saying why when Redis cannot be reached.
 */
export async function connectRedis(
  url: string,
  purpose: string,
  commandTimeout?: number,
  ca?: string,
): Promise<Redis> {
  let connecting = true;
  const redis = new Redis(url, failFastOptions(() => connecting, commandTimeout, ca));
  // ioredis reports every failed attempt as an "error" event; its owner logs outages. At
  // start-up the event holds the cause that connect() hides.
  let cause: unknown;
  redis.on("error", (error) => cause ??= error);
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    cause ??= error;
    throw new BackplaneConnectError(
      `Cannot connect to Redis at ${redisAddress(url)} for ${purpose}: ${redisFailure(cause)}`,
      { cause },
    );
  }
  connecting = false;
  return redis;
}
