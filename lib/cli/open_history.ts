import { BackplaneConnectError, HistoryFileError } from "../server/errors.ts";
import type { HistoryStore } from "../server/history/history_store.ts";
import { NullHistory } from "../server/history/null_history.ts";
import { SqliteHistory } from "../server/history/sqlite_history.ts";
import type { Logger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";
import { describeError } from "../util/describe_error.ts";
import { join } from "node:path";

/** Held by the server that uses the folder (see lockDataDir). */
const LOCK_FILE_NAME = "server.lock";

/** Why the server cannot keep history where it was told to, in plain words. */
export class HistoryOpenError extends Error {
  override name = "HistoryOpenError";
}

/**
 * The history store the options ask for: none with --history-size 0, Redis's with --redis
 * (every server of the cluster serves the same history), else the SQLite file in
 * --data-dir (none, with a notice, when Deno's permissions do not allow files). Throws
 * HistoryOpenError when it cannot be used.
 */
export async function openHistory(
  options: Pick<
    ServerOptions,
    "historySize" | "historyDays" | "dataDir" | "redisUrl" | "redisCa" | "maxRooms"
  >,
  logger: Logger,
): Promise<HistoryStore> {
  const { historySize, redisUrl, dataDir } = options;
  if (historySize === 0) return new NullHistory();
  const historyDays = options.historyDays > 0 ? options.historyDays : undefined;
  if (redisUrl !== undefined) {
    // Loaded here only, as the backplane is: ioredis needs --allow-env.
    const { RedisHistory } = await import("../server/redis/redis_history.ts");
    try {
      return await RedisHistory.connect(
        {
          url: redisUrl,
          ca: options.redisCa,
          historySize,
          historyDays,
          maxRooms: options.maxRooms,
        },
        logger,
      );
    } catch (error) {
      if (error instanceof BackplaneConnectError) throw new HistoryOpenError(error.message);
      throw error;
    }
  }
  try {
    await lockDataDir(dataDir);
    return SqliteHistory.open(
      { dataDir, historySize, historyDays, maxRooms: options.maxRooms },
      logger,
    );
  } catch (error) {
    if (error instanceof HistoryOpenError) throw error;
    if (error instanceof HistoryFileError) throw new HistoryOpenError(error.message);
    if (error instanceof Deno.errors.NotCapable) {
      // Chat needs no file: a server run with --allow-net alone still serves, and says why
      // it keeps no history.
      logger.log(
        "notice",
        "history_off",
        `room history is off: run with --allow-read and --allow-write to keep it in ${dataDir}`,
        { data_dir: dataDir },
      );
      return new NullHistory();
    }
    throw new HistoryOpenError(
      `Cannot keep history in ${dataDir}: ${describeError(error)} ` +
        "(choose another folder with --data-dir, or --history-size 0 for no history)",
    );
  }
}

/** How long to wait for another server to let go of the data folder. */
const LOCK_WAIT_MS = 1000;

/**
 * Takes the folder for this process, for as long as it runs: two servers numbering the
 * same rooms in one file would give two messages one id. The lock goes with the process.
 */
async function lockDataDir(dataDir: string): Promise<void> {
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = await Deno.open(join(dataDir, LOCK_FILE_NAME), { create: true, write: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), LOCK_WAIT_MS);
  });
  const locked = await Promise.race([file.lock(true).then(() => true), timedOut]);
  clearTimeout(timer);
  if (!locked) {
    throw new HistoryOpenError(
      `Cannot keep history in ${dataDir}: another server is using it ` +
        "(stop that one, or give this one another folder with --data-dir)",
    );
  }
}
