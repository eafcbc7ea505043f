import { ChatServer } from "../server/chat_server.ts";
import { BackplaneConnectError, ListenError } from "../server/errors.ts";
import type { Backplane } from "../server/backplane.ts";
import { HttpGateway } from "../server/http_gateway.ts";
import { createLogger, type Logger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";
import { announceServer } from "./announce_server.ts";
import { describeError } from "../util/describe_error.ts";
import { fail } from "./exit.ts";
import { onStopSignal } from "./shutdown_signals.ts";
import { runWorkers } from "./run_workers.ts";
import { connectRedisBackplane } from "./connect_redis_backplane.ts";
import { HistoryOpenError, openHistory } from "./open_history.ts";
import type { HistoryStore } from "../server/history/history_store.ts";
import { SqliteHistory } from "../server/history/sqlite_history.ts";
import type { AccountStore } from "../server/accounts/account_store.ts";
import { SqliteAccounts } from "../server/accounts/sqlite_accounts.ts";
import { AccountsOpenError, openAccounts } from "./open_accounts.ts";
import { listenFailure } from "./listen_failure.ts";
import { SilentUntilStarted } from "./silent_until_started.ts";
import { STATS_SIGNAL } from "./stats_signal.ts";
import { validityWarning } from "./tls_certificate_files.ts";

/** Where the options came from: a settings file read, or one not looked for without permission. */
export interface SettingsSource {
  file?: string;
  /** The settings that `file` gave (the command line left them alone), by key. */
  keys?: string[];
  unread?: string;
}

/**
 * Runs the server until a stop signal, then shuts it down gracefully. Returns the exit code.
 * `settings` says where the options came from, for the log.
 */
export async function runServer(
  options: ServerOptions,
  settings: SettingsSource = {},
): Promise<number> {
  // At once: until a listener is added, the signal's default action ends the process, and
  // Redis and the ports take a while. Nothing to count before the server exists.
  let logStats = () => {};
  if (STATS_SIGNAL !== undefined) Deno.addSignalListener(STATS_SIGNAL, () => logStats());
  const logger = createLogger({ format: options.logFormat, quiet: options.quiet });
  // Before any permission is dropped: a new self-signed certificate is kept in --data-dir.
  let fingerprint: string | undefined;
  if (options.tlsSelfSigned) {
    // Loaded here only: the X.509 package adds some 80 ms to every start that needs none.
    const { selfSignedCertificate, SelfSignedError, selfSignedNames } = await import(
      "./self_signed_certificate.ts"
    );
    try {
      const { required, more } = selfSignedNames(options.tlsNames);
      const selfSigned = await selfSignedCertificate(options.dataDir, required, more);
      if (selfSigned.made !== undefined) {
        logger.log(
          "notice",
          "tls_self_signed_made",
          `made a self-signed certificate and kept it in ${selfSigned.path} (${selfSigned.made})`,
          { path: selfSigned.path },
        );
      }
      options = { ...options, tls: selfSigned.tls };
      fingerprint = selfSigned.fingerprint;
    } catch (error) {
      if (error instanceof SelfSignedError) return fail(error.message);
      throw error;
    }
  } else if (options.tls !== undefined) {
    const warning = validityWarning(options.tls.cert, "--tls-cert");
    if (warning !== undefined) logger.log("warn", "tls_certificate_invalid", warning);
  }
  if (options.requireAccount && options.tls === undefined && !options.allowPlaintextPasswords) {
    // Nothing is wrong with it behind an HTTPS proxy, but without one nobody can log in.
    logger.log(
      "notice",
      "no_way_to_log_in",
      "--require-account without TLS: no password is taken over plain TCP or ws://, so " +
        "users can log in only through an HTTPS reverse proxy on this host " +
        "(X-Forwarded-Proto: https); serve TLS (--tls-cert or --tls-self-signed), or allow " +
        "--allow-plaintext-passwords on a LAN",
    );
  }
  if (options.workers > 1) {
    // Several listeners on one port are shared out by the kernel on Linux only.
    if (Deno.build.os === "linux") {
      if (options.requireAccount && options.redisUrl === undefined) {
        return fail(
          "Cannot --require-account with --workers above 1 without --redis: " +
            "the workers share their accounts through Redis",
        );
      }
      // Workers keep no file: their history, if any, is in Redis.
      Deno.permissions.revokeSync({ name: "write" });
      logSettings(logger, settings);
      return runWorkers(options, logger, fingerprint);
    }
    logger.log(
      "notice",
      "workers_unsupported",
      "--workers needs Linux (SO_REUSEPORT); running 1 worker",
      { workers: 1 },
    );
  }
  let backplane: Backplane | undefined;
  if (options.redisUrl !== undefined) {
    try {
      backplane = await connectRedisBackplane({ ...options, redisUrl: options.redisUrl }, logger);
    } catch (error) {
      if (error instanceof BackplaneConnectError) return fail(error.message);
      throw error;
    }
  }
  // Told once the server has started: a server that cannot open its ports says that alone.
  const serverLogger = new SilentUntilStarted(logger);
  let history: HistoryStore;
  try {
    history = await openHistory(options, serverLogger);
  } catch (error) {
    await backplane?.[Symbol.asyncDispose]();
    if (error instanceof HistoryOpenError) return fail(error.message);
    throw error;
  }
  let accounts: AccountStore;
  try {
    accounts = await openAccounts(options, serverLogger);
  } catch (error) {
    await backplane?.[Symbol.asyncDispose]();
    await history[Symbol.asyncDispose]();
    if (error instanceof AccountsOpenError) return fail(error.message);
    throw error;
  }
  // Writing is granted for --write-config and the SQLite file alone: nothing else is written.
  if (!(history instanceof SqliteHistory) && !(accounts instanceof SqliteAccounts)) {
    Deno.permissions.revokeSync({ name: "write" });
  }
  let server: ChatServer;
  try {
    server = new ChatServer(options, serverLogger, backplane, history, accounts);
  } catch (error) {
    await backplane?.[Symbol.asyncDispose]();
    await history[Symbol.asyncDispose]();
    await accounts[Symbol.asyncDispose]();
    if (error instanceof ListenError) return fail(listenFailure(error, "chat", settings));
    throw error;
  }
  let gateway: HttpGateway | undefined;
  if (options.httpPort > 0) {
    try {
      gateway = new HttpGateway(server, {
        hostname: options.host,
        port: options.httpPort,
        allowedOrigins: options.allowedOrigins,
        tls: options.tls,
      }, serverLogger);
    } catch (error) {
      await server.shutdown();
      if (error instanceof ListenError) return fail(listenFailure(error, "http", settings));
      throw error;
    }
  }
  try {
    await server.ready;
    await gateway?.ready;
  } catch (error) {
    await (gateway ?? server).shutdown();
    if (error instanceof ListenError) return fail(listenFailure(error, "chat", settings));
    throw error;
  }
  serverLogger.start();
  // Only now: a server that cannot open its ports says that alone.
  logSettings(logger, settings);
  // A bug in one connection's handling must not take everyone else's chat down.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.log("error", "unexpected", `unexpected error: ${describeError(event.reason)}`);
  });
  logStats = () => server.logStats();
  const stopped = Promise.withResolvers<void>();
  // The gateway's shutdown includes the chat server's, in the order that loses nothing.
  using _signals = onStopSignal(() =>
    (gateway ?? server).shutdown().then(stopped.resolve, stopped.reject)
  );

  announceServer(logger, server.address, gateway?.address, {
    tls: options.tls !== undefined,
    fingerprint,
  });
  await stopped.promise;
  return 0;
}

function logSettings(logger: Logger, settings: SettingsSource): void {
  if (settings.file !== undefined) {
    logger.log("notice", "settings", `settings from ${settings.file}`, { file: settings.file });
  } else if (settings.unread !== undefined) {
    // Silence would leave a user wondering why the file's port is not the one in use.
    logger.log(
      "notice",
      "settings_unread",
      `not looking for ${settings.unread}: run with --allow-read to use a settings file`,
      { file: settings.unread },
    );
  }
}
