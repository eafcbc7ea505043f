import type { ListenError } from "../server/errors.ts";
import type { SettingsSource } from "./run_server.ts";

/** The server's two listeners, as a user knows them: what each is for, and its option. */
const LISTENERS = {
  chat: { what: "TCP, for chat clients", key: "port", more: "" },
  http: {
    what: "HTTP, for the browser page",
    key: "http-port",
    more: ", or turn HTTP off with --http-port 0",
  },
};

/**
 * The one line a server that cannot listen exits with: which of its ports, and, when the
 * port is taken, how to run beside whatever holds it: with the flag, or in the settings
 * file when the port came from there.
 */
export function listenFailure(
  error: ListenError,
  listener: keyof typeof LISTENERS,
  settings: SettingsSource = {},
): string {
  const { what, key, more } = LISTENERS[listener];
  const line = `Cannot listen on ${error.address} (${what}): ${error.reason}`;
  if (!error.inUse) return line;
  const where = settings.file !== undefined && settings.keys?.includes(key)
    ? ` (or ${key} in ${settings.file})`
    : "";
  return `${line}. Another server is probably running; pick another port with --${key}${where}${more}`;
}
