import type { ListenError } from "../server/errors.ts";

/** The server's two listeners, as a user knows them: what each is for, and its option. */
const LISTENERS = {
  chat: { what: "TCP, for chat clients", hint: "pick another port with --port" },
  http: {
    what: "HTTP, for the browser page",
    hint: "pick another port with --http-port, or turn HTTP off with --http-port 0",
  },
};

/**
 * The one line a server that cannot listen exits with: which of its ports, and, when the
 * port is taken, how to run beside whatever holds it.
 */
export function listenFailure(error: ListenError, listener: keyof typeof LISTENERS): string {
  const { what, hint } = LISTENERS[listener];
  const line = `Cannot listen on ${error.address} (${what}): ${error.reason}`;
  return error.inUse ? `${line}. Another server is probably running; ${hint}` : line;
}
