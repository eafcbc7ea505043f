import { describeError } from "../util/describe_error.ts";
import type { Logger } from "./logger.ts";

/** How long the accept loop rests after an accept error (out of file descriptors, say). */
const ACCEPT_RETRY_MS = 100;

/** A warning per this many ms at most, however often accept fails. */
const WARNING_INTERVAL_MS = 1000;

/**
 * Accepts connections until the listener is closed, handing each to `onConnection`. An
 * accept that fails (out of file descriptors, say) is logged at most once a second and
 * retried after a rest: the listener (chat or HTTP) must outlive a moment of exhaustion, since nothing
 * else would reopen it. `stopping` says when a failure only means the server is stopping.
 */
export async function acceptLoop<C>(
  what: "chat" | "http",
  listener: { accept(): Promise<C>; readonly addr: Deno.NetAddr },
  onConnection: (conn: C) => void,
  logger: Logger,
  stopping: () => boolean,
): Promise<void> {
  let lastWarning = 0;
  while (true) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (stopping() || error instanceof Deno.errors.BadResource) return;
      // A client that resets while still in the kernel's queue fails its own accept only.
      if (isPeerGone(error)) continue;
      // Out of file descriptors and the like: rest, so as not to spin, then try again.
      if (Date.now() - lastWarning > WARNING_INTERVAL_MS) {
        lastWarning = Date.now();
        logger.log(
          "warn",
          "accept_failed",
          `accept failed: ${describeError(error)}; retrying (${what} port ${listener.addr.port})`,
          { listener: what, port: listener.addr.port },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
      continue;
    }
    onConnection(conn);
  }
}

function isPeerGone(error: unknown): boolean {
  return error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.Interrupted;
}
