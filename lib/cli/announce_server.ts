import type { Logger } from "../server/logger.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { clientAddresses } from "./client_addresses.ts";

/**
 * The start-up lines, once every port is open: "listening on", where clients and browsers
 * can connect, then how to stop. Said last: once "press Ctrl+C to stop" is printed, every
 * signal is handled.
 */
export function announceServer(
  logger: Logger,
  chat: { hostname: string; port: number },
  http: { hostname: string; port: number } | undefined,
  workers = 1,
): void {
  logger.log(
    "notice",
    "listening",
    `listening on ${formatHostPort(chat.hostname, chat.port)}` +
      (workers > 1 ? ` (${workers} workers)` : ""),
    { host: chat.hostname, port: chat.port, workers: workers > 1 ? workers : undefined },
  );
  const addresses = clientAddresses(chat.hostname, chat.port);
  logger.log("notice", "addresses", `clients can connect to ${addresses.join(", ")}`, {
    addresses: addresses.join(" "),
  });
  if (http !== undefined) {
    const pages = clientAddresses(http.hostname, http.port);
    logger.log(
      "notice",
      "browser",
      `open ${pages.map((page) => `http://${page}`).join(" or ")} in a browser`,
      {
        urls: pages.map((page) => `http://${page}`).join(" "),
      },
    );
  }
  logger.log("notice", "how_to_stop", "press Ctrl+C to stop");
}
