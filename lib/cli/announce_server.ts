import type { Logger } from "../server/logger.ts";
import { clientAddresses } from "./client_addresses.ts";

/**
 * The start-up lines after "listening on": where clients and browsers can connect, then
 * how to stop. Said last: once "press Ctrl+C to stop" is printed, every signal is handled.
 */
export function announceServer(
  logger: Logger,
  hostname: string,
  port: number,
  http: { hostname: string; port: number } | undefined,
): void {
  const addresses = clientAddresses(hostname, port);
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
