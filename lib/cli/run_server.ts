import { ChatServer } from "../server/chat_server.ts";
import { ListenError } from "../server/errors.ts";
import type { ServerOptions } from "../server/options.ts";
import { fail } from "./fail.ts";
import { onStopSignal } from "./shutdown_signals.ts";

/** Runs the server until a stop signal, then shuts it down gracefully and exits 0. */
export async function runServer(options: ServerOptions): Promise<never> {
  let server: ChatServer;
  try {
    server = new ChatServer(options);
  } catch (error) {
    if (error instanceof ListenError) fail(error.message);
    throw error;
  }
  const stopped = Promise.withResolvers<void>();
  using _signals = onStopSignal(() => server.shutdown().then(stopped.resolve));
  await stopped.promise;
  Deno.exit(0);
}
