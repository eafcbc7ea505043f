/**
 * `deno task bench <scenario> [options]`: the chat server's load tool, like
 * redis-benchmark or `nats bench`. Scenarios: broadcast (also against Redis pub/sub,
 * for comparison), echo, connections. See lib/bench/load/ for the parts; this file
 * reads the command line and dispatches.
 */
import {
  Command,
  CommanderError,
  InvalidArgumentError,
  Option,
  type OptionValues,
} from "@commander-js/extra-typings";
import { fail } from "../cli/exit.ts";
import { describeError } from "../util/describe_error.ts";
import {
  parseCount,
  parseNonNegativeNumber,
  parsePositiveInteger,
  parseRedisUrl,
  parseSeconds,
} from "../cli/option_parsers.ts";
import { parseServerAddress } from "../cli/parse_server_address.ts";
import { configureProgram, runProgram, USAGE_EXIT_CODE } from "../cli/run_program.ts";
import { REDIS_HEADER_BYTES } from "./load/resp.ts";
import { broadcastWorker, coordinateBroadcast } from "./load/scenarios/broadcast.ts";
import { connectionsWorker, coordinateConnections } from "./load/scenarios/connections.ts";
import { coordinateEcho, echoWorker } from "./load/scenarios/echo.ts";
import { SEND_TIME_BYTES } from "./load/send_time.ts";
import { type Address, serverFor } from "./load/server_under_test.ts";
import { type Harness, processesFor, stopOnSignal, UsageError } from "./load/run_support.ts";
import { CoordinatorLink, type WorkerPool } from "./load/worker_protocol.ts";

function parseAddress(value: string): Address {
  const address = parseServerAddress(value, { hostname: "127.0.0.1", port: 8080 });
  if (address === undefined) throw new InvalidArgumentError("Expected host:port.");
  return address;
}

function parseRedisAddress(value: string): Address {
  const url = new URL(parseRedisUrl(value));
  if (url.protocol !== "redis:" || url.username || url.password) {
    throw new InvalidArgumentError("Expected redis://host:port (no TLS or password here).");
  }
  return { hostname: url.hostname, port: Number(url.port || 6379) };
}

const program = configureProgram(new Command())
  .name("bench")
  .description("Load tool for the chat server: broadcast, echo and connection scenarios.")
  .option("--server <host:port>", "load this server instead of starting one", parseAddress)
  .option("--server-args <flags>", "extra flags for the chat server the tool starts", "")
  .option(
    "--processes <count>",
    "worker processes to spread the clients over " +
      "(default: 1, or as many as the open-file limit needs)",
    parsePositiveInteger,
  )
  .option("--json", "print the result as one JSON object instead of a table")
  .addOption(new Option("--worker", "run as a worker of another load_tool process").hideHelp());

/** Runs one scenario: as a worker, or as the coordinator of its workers and server. */
async function run(
  target: "chat" | "redis",
  sockets: number,
  given: Address | undefined,
  worker: (link: CoordinatorLink, server: Address) => Promise<void>,
  coordinate: (harness: Harness) => Promise<void>,
): Promise<void> {
  const global = program.opts();
  const processes = global.processes ?? processesFor(sockets);
  if (global.worker) {
    if (given === undefined) return usage("a worker needs --server");
    return worker(new CoordinatorLink(), given);
  }
  const serverArgs = global.serverArgs.split(/\s+/).filter((arg) => arg !== "");
  await using server = await serverFor(target, given, serverArgs);
  let pool: WorkerPool | undefined;
  using _signals = stopOnSignal(server, () => pool);
  await coordinate({ server, processes, json: global.json ?? false, setPool: (p) => pool = p });
}

/**
 * Adds --window, --rate, --size and --duration, how a paced scenario sends, described in
 * its own words: what `messages` each `sender` keeps in flight, and what it does to `verb`.
 */
function paced<Args extends unknown[], Opts extends OptionValues, Global extends OptionValues>(
  command: Command<Args, Opts, Global>,
  words: { messages: string; sender: string; window: number; verb: string },
) {
  return command
    .option(
      "--window <count>",
      `${words.messages} each ${words.sender} has in flight`,
      parsePositiveInteger,
      words.window,
    )
    .option(
      "--rate <per-second>",
      `${words.messages}/s per ${words.sender} (0: window-bound)`,
      parseNonNegativeNumber,
      0,
    )
    .option("--size <bytes>", "content bytes", parsePositiveInteger, 32)
    .option("--duration <seconds>", `how long to ${words.verb}`, parseSeconds, 10);
}

function usage(message: string): never {
  throw new UsageError(message);
}

paced(
  program.command("broadcast")
    .description("N clients, P of them publishing broadcasts; every client counts deliveries")
    .option("--clients <count>", "connected clients", parsePositiveInteger, 1000)
    .option("--publishers <count>", "clients that publish", parsePositiveInteger, 5),
  { messages: "broadcasts", sender: "publisher", window: 16, verb: "publish" },
)
  .addOption(
    new Option("--target <target>", "what to load; both: the chat server, then Redis pub/sub")
      .choices(["chat", "redis", "both"] as const).default("chat" as const),
  )
  .option(
    "--redis <url>",
    "with --target redis: this Redis instead of a private one",
    parseRedisAddress,
  )
  .action(async (options) => {
    const { redis, target: chosen, ...workload } = options;
    const minimum = chosen === "chat" ? SEND_TIME_BYTES : REDIS_HEADER_BYTES;
    if (workload.size < minimum) {
      usage(
        `--size must be at least ${minimum} bytes ${
          chosen === "chat" ? "(the send time)" : "for Redis (send time, publisher, sequence)"
        }`,
      );
    }
    if (workload.publishers > workload.clients) usage("--publishers exceeds --clients");
    if ((program.opts().processes ?? 1) > workload.clients) usage("--processes exceeds --clients");
    if (chosen !== "chat" && workload.publishers > 0xffff) usage("at most 65535 publishers");
    if (chosen !== "chat" && program.opts().server) {
      usage(`--target ${chosen} takes --redis, not --server`);
    }
    // "both" runs the same workload twice, one target after the other, for one comparison.
    for (const target of chosen === "both" ? ["chat", "redis"] as const : [chosen]) {
      await run(
        target,
        workload.clients + (target === "redis" ? workload.publishers : 0),
        target === "redis" ? redis : program.opts().server,
        (link, at) => broadcastWorker({ ...workload, target }, at.hostname, at.port, link),
        (harness) => coordinateBroadcast({ ...workload, target }, harness),
      );
    }
  });

paced(
  program.command("echo")
    .description("N clients, each keeping W Chat ECHO requests in flight")
    .option("--clients <count>", "connected clients", parsePositiveInteger, 50),
  { messages: "requests", sender: "client", window: 1, verb: "send" },
)
  .action(async (options) => {
    if (options.size < SEND_TIME_BYTES) {
      usage(`--size must be at least ${SEND_TIME_BYTES} bytes (the send time)`);
    }
    if ((program.opts().processes ?? 1) > options.clients) usage("--processes exceeds --clients");
    await run(
      "chat",
      options.clients,
      program.opts().server,
      (link, at) => echoWorker(options, at.hostname, at.port, link),
      (harness) => coordinateEcho(options, harness),
    );
  });

program.command("connections")
  .description("open N connections, each waiting for its Welcome; hold them, then close")
  .option("--connections <count>", "connections to open", parsePositiveInteger, 20000)
  .option(
    "--rate <per-second>",
    "connections/s (0: as fast as possible)",
    parseNonNegativeNumber,
    0,
  )
  .option(
    "--timeout <seconds>",
    "how long one connection may take to get its Welcome",
    parseSeconds,
    30,
  )
  .option(
    "--in-flight <count>",
    "connections being set up at once, in all (beyond the server's accept queue, " +
      "TCP's SYN retries at 1, 3, 7 s would be measured, not the server)",
    parsePositiveInteger,
    256,
  )
  .addOption(new Option("--first-index <index>").argParser(parseCount).default(0).hideHelp())
  .addOption(new Option("--spread").hideHelp())
  .action(async (options) => {
    const { firstIndex, spread, ...workload } = options;
    await run(
      "chat",
      workload.connections,
      program.opts().server,
      (link, at) =>
        connectionsWorker(
          workload,
          { firstIndex, spread: spread ?? false },
          at.hostname,
          at.port,
          link,
        ),
      (harness) => coordinateConnections(workload, harness),
    );
  });

await runProgram(async () => {
  try {
    await program.parseAsync(Deno.args, { from: "user" });
  } catch (error) {
    // Exits 2 after the message, as commander does for a bad option.
    if (error instanceof UsageError) {
      program.error(`error: ${error.message}`, { exitCode: USAGE_EXIT_CODE });
    }
    if (error instanceof CommanderError) throw error;
    await fail(`bench failed: ${describeError(error)}`);
  }
});
