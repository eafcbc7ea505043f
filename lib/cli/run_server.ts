import { ChatServer } from "../server/chat_server.ts";
import { ListenError } from "../server/errors.ts";
import { createLogger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";
import { clientAddresses } from "./client_addresses.ts";
import { describeError } from "../util/describe_error.ts";
import { fail } from "./exit.ts";
import { onStopSignal } from "./shutdown_signals.ts";

/** Runs the server until a stop signal, then shuts it down gracefully. Returns the exit code. */
export async function runServer(options: ServerOptions): Promise<number> {
  const logger = createLogger({ format: options.logFormat, quiet: options.quiet });
  let server: ChatServer;
  try {
    server = new ChatServer(options, logger);
  } catch (error) {
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
  const stopped = Promise.withResolvers<void>();
  using _signals = onStopSignal(() => server.shutdown().then(stopped.resolve, stopped.reject));

  // Said last: once it is printed, every signal above is handled.
  const addresses = clientAddresses(server.address.hostname, server.address.port);
  logger.log("notice", "addresses", `clients can connect to ${addresses.join(", ")}`, {
    addresses: addresses.join(" "),
  });
  logger.log("notice", "how_to_stop", "press Ctrl+C to stop");
  await stopped.promise;
  return 0;
}
