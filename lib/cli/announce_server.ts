import type { Logger } from "../server/logger.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { clientAddresses } from "./client_addresses.ts";

/** How the ports are served, for the start-up lines. */
export interface Announced {
  /** Threads serving clients. @default 1 */
  workers?: number;
  /** Whether the ports speak TLS (and HTTPS). @default false */
  tls?: boolean;
  /** The SHA-256 fingerprint of a self-signed certificate, which clients pin. */
  fingerprint?: string;
}

/**
 * The start-up lines, once every port is open: "listening on", where clients and browsers
 * can connect, then how to stop. Said last: once "press Ctrl+C to stop" is printed, every
 * signal is handled.
 */
export function announceServer(
  logger: Logger,
  chat: { hostname: string; port: number },
  http: { hostname: string; port: number } | undefined,
  { workers = 1, tls = false, fingerprint }: Announced = {},
): void {
  logger.log(
    "notice",
    "listening",
    `listening on ${formatHostPort(chat.hostname, chat.port)}` + (tls ? " with TLS" : "") +
      (workers > 1 ? ` (${workers} workers)` : ""),
    {
      host: chat.hostname,
      port: chat.port,
      tls: tls || undefined,
      workers: workers > 1 ? workers : undefined,
    },
  );
  const addresses = clientAddresses(chat.hostname, chat.port);
  logger.log("notice", "addresses", `clients can connect to ${addresses.join(", ")}`, {
    addresses: addresses.join(" "),
  });
  if (fingerprint !== undefined) {
    logger.log(
      "notice",
      "fingerprint",
      `self-signed certificate, SHA-256 fingerprint ${fingerprint}; ` +
        `clients connect with --fingerprint ${fingerprint}`,
      { fingerprint },
    );
  }
  if (http !== undefined) {
    const scheme = tls ? "https" : "http";
    const pages = clientAddresses(http.hostname, http.port);
    logger.log(
      "notice",
      "browser",
      `open ${pages.map((page) => `${scheme}://${page}`).join(" or ")} in a browser`,
      {
        urls: pages.map((page) => `${scheme}://${page}`).join(" "),
      },
    );
  }
  logger.log("notice", "how_to_stop", "press Ctrl+C to stop");
}
