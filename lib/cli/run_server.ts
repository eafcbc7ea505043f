import { ChatServer } from "../server/chat_server.ts";
import { BackplaneConnectError, ListenError } from "../server/errors.ts";
import type { Backplane } from "../server/backplane.ts";
import { HttpGateway } from "../server/http_gateway.ts";
import { createLogger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";
import { announceServer } from "./announce_server.ts";
import { describeError } from "../util/describe_error.ts";
import { fail } from "./exit.ts";
import { onStopSignal } from "./shutdown_signals.ts";
import { runWorkers } from "./run_workers.ts";
import { connectRedisBackplane } from "./connect_redis_backplane.ts";

/** Runs the server until a stop signal, then shuts it down gracefully. Returns the exit code. */
export async function runServer(options: ServerOptions): Promise<number> {
  const logger = createLogger({ format: options.logFormat, quiet: options.quiet });
  if (options.workers > 1) {
    // Several listeners on one port are shared out by the kernel on Linux only.
    if (Deno.build.os === "linux") return runWorkers(options, logger);
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
  let server: ChatServer;
  try {
    server = new ChatServer(options, logger, backplane);
  } catch (error) {
    await backplane?.[Symbol.asyncDispose]();
    if (error instanceof ListenError) return fail(error.message);
    throw error;
  }
  // A bug in one connection's handling must not take everyone else's chat down.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.log("error", "unexpected", `unexpected error: ${describeError(event.reason)}`);
  });
  // SIGUSR1 asks for the counters, as `kill -USR1 <pid>`; Windows has no such signal.
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGUSR1", () => server.logStats());
  let gateway: HttpGateway | undefined;
  if (options.httpPort > 0) {
    try {
      gateway = new HttpGateway(server, {
        hostname: options.host,
        port: options.httpPort,
        allowedOrigins: options.allowedOrigins,
      });
    } catch (error) {
      await server.shutdown();
      if (error instanceof ListenError) return fail(error.message);
      throw error;
    }
  }
  const stopped = Promise.withResolvers<void>();
  // The gateway's shutdown includes the chat server's, in the order that loses nothing.
  using _signals = onStopSignal(() =>
    (gateway ?? server).shutdown().then(stopped.resolve, stopped.reject)
  );

  announceServer(logger, server.address.hostname, server.address.port, gateway?.address);
  await stopped.promise;
  return 0;
}
