import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { varint } from "../protocol/varint.ts";
import {
  DEFAULT_SERVER_OPTIONS,
  RENAME_BURST,
  type ServerOptions,
  type TlsCertificate,
} from "../server/options.ts";
import { VERSION } from "../version.ts";
import {
  parseCount,
  parseHost,
  parseNonNegativeNumber,
  parseOrigins,
  parsePort,
  parsePositiveInteger,
  parseRedisUrl,
  parseSeconds,
  parseSecondsOrZero,
  parseTlsNames,
  parseWorkerCount,
} from "./option_parsers.ts";
import { optionalEnv } from "../util/optional_env.ts";
import { describeError } from "../util/describe_error.ts";
import { configureProgram, parseArguments, runProgram } from "./run_program.ts";
import { exit } from "./exit.ts";
import { ServerSettingsFile } from "./server_settings_file.ts";
import { readTlsCertificate, TlsFileError } from "./tls_certificate_files.ts";
import type { SettingsSource } from "./run_server.ts";

/**
 * Reads the server's options from the command line and the settings file (see
 * ServerSettingsFile), and says which file that was, if any. Exits on --help, --version,
 * --write-config, or a usage error.
 */
export async function parseServerCommandLine(
  args: string[],
): Promise<{ options: ServerOptions; settings: SettingsSource }> {
  const defaults = DEFAULT_SERVER_OPTIONS;
  const program = configureProgram(new Command())
    .name("server")
    .description("Chat server: echo and broadcast over length-delimited protobuf on TCP.")
    .version(VERSION, "-V, --version")
    .option("--host <address>", "address to listen on", parseHost, defaults.host)
    .option("-p, --port <port>", "TCP port (0 picks a free one)", parsePort, defaults.port)
    .option(
      "--http-port <port>",
      "HTTP port for the browser page, /ws, /healthz and /metrics (0: no HTTP)",
      parsePort,
      defaults.httpPort,
    )
    .option("--tls-cert <file>", "serve TLS (and HTTPS) with this PEM certificate chain")
    .option("--tls-key <file>", "the PEM private key of --tls-cert")
    .option(
      "--tls-self-signed",
      "serve TLS with a certificate of its own, kept in --data-dir; clients pin its fingerprint",
      defaults.tlsSelfSigned,
    )
    .option(
      "--tls-name <name,...>",
      "with --tls-self-signed: more host names or addresses for its certificate (repeatable)",
      parseTlsNames,
    )
    .option(
      "--allow-plaintext-passwords",
      "take passwords over connections that are not encrypted (LAN, or a TLS proxy on this host)",
      defaults.allowPlaintextPasswords,
    )
    .option(
      "--require-account",
      "only registered users may connect (make accounts with: server accounts add NAME)",
      defaults.requireAccount,
    )
    .option(
      "--max-accounts <count>",
      "accounts users may register in all; past it, registering is refused",
      parsePositiveInteger,
      defaults.maxAccounts,
    )
    .option(
      "--allowed-origins <origin,...>",
      "comma-separated origins whose pages may open /ws, or * (default: this host and localhost)",
      parseOrigins,
    )
    .option(
      "--max-frame-bytes <bytes>",
      "largest frame accepted; a larger one closes the connection",
      parsePositiveInteger,
      defaults.maxFrameBytes,
    )
    .option(
      "--max-content-bytes <bytes>",
      "longest chat message, in UTF-8 bytes",
      parsePositiveInteger,
      defaults.maxContentBytes,
    )
    .option(
      "--max-connections <count>",
      "connections served at once",
      parsePositiveInteger,
      defaults.maxConnections,
    )
    .option(
      "--max-connections-per-ip <count>",
      "connections from one IP address (loopback exempt unless --limit-loopback)",
      parsePositiveInteger,
      defaults.maxConnectionsPerIp,
    )
    .option(
      "--limit-loopback",
      "apply the per-IP cap to loopback addresses too",
      defaults.limitLoopback,
    )
    .option(
      "--max-http-connections <count>",
      "HTTP connections at once, besides WebSockets (loopback may still reach /healthz, /metrics)",
      parsePositiveInteger,
      defaults.maxHttpConnections,
    )
    .option(
      "--http-header-timeout <seconds>",
      "how long an HTTP request's head may take to arrive",
      parseSeconds,
      defaults.httpHeaderTimeoutSeconds,
    )
    .option(
      "--http-idle-timeout <seconds>",
      "how long a kept-alive HTTP connection may wait for its next request",
      parseSeconds,
      defaults.httpIdleTimeoutSeconds,
    )
    .option(
      "--close-handshake-timeout <seconds>",
      "how long a WebSocket client has to answer the close handshake before it is cut",
      parseSeconds,
      defaults.closeHandshakeTimeoutSeconds,
    )
    .option(
      "--max-queue-bytes <bytes>",
      "bytes waiting for one client before it is cut as a slow consumer",
      parsePositiveInteger,
      defaults.maxQueueBytes,
    )
    .option(
      "--write-timeout <seconds>",
      "how long one write to a client may stall before it is cut as a slow consumer",
      parseSeconds,
      defaults.writeTimeoutSeconds,
    )
    .option(
      "--rate-limit <per-second>",
      "chat messages per second per client, on average (0: no limit)",
      parseNonNegativeNumber,
      defaults.rateLimitPerSecond,
    )
    .option(
      "--rate-burst <count>",
      "chat messages a client may send at once before the rate applies",
      parsePositiveInteger,
      defaults.rateBurst,
    )
    .option(
      "--rename-limit <per-minute>",
      `nickname changes per minute per client, after ${RENAME_BURST} at once (0: no limit)`,
      parseNonNegativeNumber,
      defaults.renameLimitPerMinute,
    )
    .option(
      "--idle-timeout <seconds>",
      "how long a client may send nothing before it is disconnected",
      parseSeconds,
      defaults.idleTimeoutSeconds,
    )
    .option(
      "--frame-timeout <seconds>",
      "how long a frame may take to arrive once begun",
      parseSeconds,
      defaults.frameTimeoutSeconds,
    )
    .option(
      "--shutdown-timeout <seconds>",
      "how long a shutdown waits for queued messages to go out",
      parseSeconds,
      defaults.shutdownTimeoutSeconds,
    )
    .option(
      "--stats-interval <seconds>",
      "log the counters this often (0: only on SIGUSR2)",
      parseSecondsOrZero,
      defaults.statsIntervalSeconds,
    )
    .addOption(
      new Option("--log-format <format>", "log lines as plain text or JSON")
        .choices(["text", "json"] as const)
        .default(defaults.logFormat),
    )
    .option(
      "--presence-limit <count>",
      "users online past which joins and leaves are no longer announced (who still answers)",
      parseCount,
      defaults.presenceLimit,
    )
    .option(
      "--max-rooms <count>",
      "rooms this server holds at once; joining a new one past it is refused",
      parsePositiveInteger,
      defaults.maxRooms,
    )
    .option(
      "--data-dir <folder>",
      "where room history and accounts are kept (history.sqlite3), made if missing",
      defaults.dataDir,
    )
    .option(
      "--history-size <count>",
      "messages kept per room (0: no history)",
      parseCount,
      defaults.historySize,
    )
    .option(
      "--history-days <days>",
      "days a message is kept at most (0: no age limit)",
      parseCount,
      defaults.historyDays,
    )
    .option(
      "--history-on-join <count>",
      "messages of a room's history a client gets when it joins",
      parseCount,
      defaults.historyOnJoin,
    )
    .option("-q, --quiet", "leave out the per-connection log lines", defaults.quiet)
    .option(
      "--redis <url>",
      "join a cluster of servers through this Redis, e.g. redis://127.0.0.1:6379 (env REDIS_URL)",
      parseRedisUrl,
    )
    .option("--redis-ca <file>", "with a rediss:// URL: trust this PEM CA for Redis too")
    .option(
      "--cluster-expiry <seconds>",
      "with --redis: how long a crashed server's users stay in the others' who",
      parseSeconds,
      defaults.clusterExpirySeconds,
    )
    .option(
      "--workers <count>",
      "threads serving clients on the same port (Linux; needs deno run --unstable-net)",
      parseWorkerCount,
      defaults.workers,
    )
    .option(
      "--config <file>",
      `read the settings from this TOML file (default: ${ServerSettingsFile.NAME}, if there)`,
    )
    .option(
      "--write-config",
      `write every setting with its default to ${ServerSettingsFile.NAME} (or --config), then exit`,
    );
  await parseArguments(program, args);
  const settingsFile = new ServerSettingsFile(program);
  const path = program.opts().config ?? ServerSettingsFile.NAME;
  let settings: SettingsSource = {};
  await runProgram(async () => {
    if (program.opts().writeConfig) {
      // A file that would not start the server is not worth writing.
      checkTogether(program);
      console.log(settingsFile.write(path));
      await exit(0);
    }
    const file = settingsFile.read(path, program.opts().config !== undefined);
    if (file !== undefined) settings = { file, keys: settingsFile.keys() };
    else if (!ServerSettingsFile.mayRead(path)) settings = { unread: path };
    checkTogether(program);
  });
  const options = program.opts();
  let redisUrl = options.redis;
  const fromEnv = optionalEnv("REDIS_URL");
  // As commander ranks them: the command line, then the environment, then the file.
  if (program.getOptionValueSource("redis") !== "cli" && fromEnv) {
    // deno-lint-ignore require-await
    await runProgram(async () => {
      try {
        redisUrl = parseRedisUrl(fromEnv);
      } catch (error) {
        program.error(`error: REDIS_URL: ${describeError(error)}`, { exitCode: 2 });
      }
    });
  }
  if (options.redisCa !== undefined && !redisUrl?.startsWith("rediss://")) {
    // deno-lint-ignore require-await
    await runProgram(async () => {
      program.error("error: --redis-ca is for a Redis spoken to over TLS: a rediss:// URL", {
        exitCode: 2,
      });
    });
  }
  return {
    settings,
    options: {
      host: options.host,
      port: options.port,
      httpPort: options.httpPort,
      tls: await tlsCertificate(program, options.tlsCert, options.tlsKey),
      tlsSelfSigned: options.tlsSelfSigned,
      tlsNames: options.tlsName ?? [],
      allowPlaintextPasswords: options.allowPlaintextPasswords,
      requireAccount: options.requireAccount,
      maxAccounts: options.maxAccounts,
      allowedOrigins: options.allowedOrigins,
      maxFrameBytes: options.maxFrameBytes,
      maxContentBytes: options.maxContentBytes,
      maxConnections: options.maxConnections,
      maxConnectionsPerIp: options.maxConnectionsPerIp,
      limitLoopback: options.limitLoopback,
      maxHttpConnections: options.maxHttpConnections,
      httpHeaderTimeoutSeconds: options.httpHeaderTimeout,
      httpIdleTimeoutSeconds: options.httpIdleTimeout,
      closeHandshakeTimeoutSeconds: options.closeHandshakeTimeout,
      maxQueueBytes: options.maxQueueBytes,
      writeTimeoutSeconds: options.writeTimeout,
      rateLimitPerSecond: options.rateLimit,
      rateBurst: options.rateBurst,
      renameLimitPerMinute: options.renameLimit,
      idleTimeoutSeconds: options.idleTimeout,
      frameTimeoutSeconds: options.frameTimeout,
      shutdownTimeoutSeconds: options.shutdownTimeout,
      statsIntervalSeconds: options.statsInterval,
      logFormat: options.logFormat,
      quiet: options.quiet,
      presenceLimit: options.presenceLimit,
      maxRooms: options.maxRooms,
      dataDir: options.dataDir,
      historySize: options.historySize,
      historyDays: options.historyDays,
      historyOnJoin: options.historyOnJoin,
      redisUrl,
      redisCa: await redisCa(program, options.redisCa),
      clusterExpirySeconds: options.clusterExpiry,
      workers: options.workers,
      reusePort: false,
    },
  };
}

/**
 * What no one option can check alone, once the file has given its values too: either of
 * a pair may come from it. Exits 2, as for a bad flag.
 */
function checkTogether(program: CommandUnknownOpts): void {
  const { port, httpPort, maxFrameBytes, maxContentBytes } = program.opts() as Pick<
    ServerOptions,
    "port" | "httpPort" | "maxFrameBytes" | "maxContentBytes"
  >;
  const { tlsCert, tlsKey, tlsSelfSigned, tlsName } = program.opts() as {
    tlsCert?: string;
    tlsKey?: string;
    tlsSelfSigned?: boolean;
    tlsName?: string[];
  };
  if (tlsSelfSigned && (tlsCert !== undefined || tlsKey !== undefined)) {
    program.error(
      "error: --tls-self-signed makes its own certificate; give it or --tls-cert and --tls-key, " +
        "not both",
      { exitCode: 2 },
    );
  }
  if (tlsName !== undefined && !tlsSelfSigned) {
    program.error("error: --tls-name names the certificate of --tls-self-signed; give that too", {
      exitCode: 2,
    });
  }
  if (port !== 0 && port === httpPort) {
    program.error(
      `error: --port and --http-port are both ${port}; give them different ports`,
      { exitCode: 2 },
    );
  }
  const needed = chatFrameBytes(maxContentBytes);
  if (maxFrameBytes < needed) {
    program.error(
      `error: --max-frame-bytes ${maxFrameBytes} is too small for a chat message of ` +
        `--max-content-bytes ${maxContentBytes}; it must be at least ${needed}`,
      { exitCode: 2 },
    );
  }
}

/**
 * The largest frame a chat message of `contentBytes` makes, at worst: ClientMessage.chat
 * around Chat's content, action and client_seq, each with its tag, and the varints at their
 * longest (10 bytes for an action or a client_seq). A smaller limit cuts a client off for a
 * message the server would take.
 */
function chatFrameBytes(contentBytes: number): number {
  const chat = 1 + varint.size(contentBytes) + contentBytes + (1 + 10) + (1 + 10);
  return 1 + varint.size(chat) + chat;
}

/**
 * The certificate and key files' text, checked: one of the pair alone, a file missing or
 * unreadable, not PEM, or a key that is not the certificate's, is a usage error.
 */
async function tlsCertificate(
  program: CommandUnknownOpts,
  certFile: string | undefined,
  keyFile: string | undefined,
): Promise<TlsCertificate | undefined> {
  if (certFile === undefined && keyFile === undefined) return undefined;
  let tls: TlsCertificate | undefined;
  // deno-lint-ignore require-await
  await runProgram(async () => {
    if (certFile === undefined || keyFile === undefined) {
      program.error("error: --tls-cert and --tls-key go together; give both", { exitCode: 2 });
    }
    try {
      tls = readTlsCertificate(certFile, keyFile);
    } catch (error) {
      if (!(error instanceof TlsFileError)) throw error;
      program.error(`error: ${error.message}`, { exitCode: 2 });
    }
  });
  return tls;
}

/** The text of --redis-ca; one that cannot be read, or holds no certificate, is a usage error. */
async function redisCa(
  program: CommandUnknownOpts,
  file: string | undefined,
): Promise<string | undefined> {
  if (file === undefined) return undefined;
  let text = "";
  // deno-lint-ignore require-await
  await runProgram(async () => {
    try {
      text = Deno.readTextFileSync(file);
    } catch (error) {
      program.error(`error: Cannot read --redis-ca ${file}: ${describeError(error)}`, {
        exitCode: 2,
      });
    }
    if (!text.includes("-----BEGIN CERTIFICATE-----")) {
      program.error(`error: --redis-ca ${file} holds no PEM certificate`, { exitCode: 2 });
    }
  });
  return text;
}
