import { MAX_TIMER_MS } from "../util/max_timer_ms.ts";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { excerpt } from "./excerpt.ts";

/**
 * An address to listen on: a host name or an IPv4 or IPv6 address (a zone after "%"), as
 * DNS bounds it to 253 characters. Anything else would only fail later, quoted whole.
 */
export function parseHost(value: string): string {
  if (!/^[A-Za-z0-9._:%-]{1,253}$/.test(value)) {
    throw new InvalidArgumentError(
      "Expected a host name or IP address, such as 0.0.0.0, :: or 127.0.0.1.",
    );
  }
  return value;
}

/**
 * Names for --tls-self-signed's certificate: host names or IP addresses, comma-separated;
 * the option may be given again, and each time adds to the list.
 */
export function parseTlsNames(value: string, previous: string[] | undefined): string[] {
  const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
  for (const name of names) {
    if (!/^[A-Za-z0-9.:*-]{1,253}$/.test(name)) {
      throw new InvalidArgumentError(
        `"${excerpt(name)}" is not a host name or IP address, such as chat.example.com.`,
      );
    }
  }
  return [...previous ?? [], ...names];
}

/** A TCP port, 0-65535 (0 lets the system pick). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new InvalidArgumentError("Expected a port number from 0 to 65535.");
  }
  return port;
}

/** A whole number of at least 1. */
export function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || !Number.isSafeInteger(number)) {
    throw new InvalidArgumentError("Expected a whole number of at least 1.");
  }
  return number;
}

/** A number of worker threads, 1-999: each is a node, and session ids keep 3 digits for it. */
export function parseWorkerCount(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || number > 999) {
    throw new InvalidArgumentError("Expected a whole number from 1 to 999.");
  }
  return number;
}

/** A whole number of at least 0. */
export function parseCount(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number)) {
    throw new InvalidArgumentError("Expected a whole number of at least 0.");
  }
  return number;
}

/**
 * The longest duration a timer takes (2147483 s): past it a --stats-interval would log its
 * line a thousand times a second.
 */
const MAX_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/** A duration in seconds, fractions allowed: "10", "0.5"; at most MAX_SECONDS. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds <= 0 || seconds > MAX_SECONDS) {
    throw new InvalidArgumentError(
      `Expected a number of seconds above 0, up to ${MAX_SECONDS} (24 days), such as 10 or 0.5.`,
    );
  }
  return seconds;
}

/** A duration in seconds, or 0 for none: "0", "20", "0.5"; at most MAX_SECONDS. */
export function parseSecondsOrZero(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds > MAX_SECONDS) {
    throw new InvalidArgumentError(
      `Expected a number of seconds from 0 to ${MAX_SECONDS} (24 days), such as 0, 20 or 0.5.`,
    );
  }
  return seconds;
}

/** A number of at least 0, fractions allowed: "0", "20", "0.5". */
export function parseNonNegativeNumber(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new InvalidArgumentError("Expected a number of at least 0, such as 0, 20 or 0.5.");
  }
  return Number(value);
}

/** "https://a.example,http://localhost:3000" or "*": origins as browsers send them. */
export function parseOrigins(value: string): string[] {
  const origins = value.split(",").map((origin) => origin.trim()).filter((origin) => origin !== "");
  for (const origin of origins) {
    if (origin === "*") continue;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new InvalidArgumentError(
        `"${excerpt(origin)}" is not an origin such as https://chat.example.com.`,
      );
    }
    if (url.origin !== origin) {
      throw new InvalidArgumentError(
        `"${excerpt(origin)}" is not an origin; did you mean ${excerpt(url.origin)}?`,
      );
    }
  }
  if (origins.length === 0) throw new InvalidArgumentError("Expected at least one origin.");
  return origins;
}

/** A Redis URL: redis://[user:password@]host[:port][/db], or rediss:// for TLS. */
export function parseRedisUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("Expected a URL such as redis://127.0.0.1:6379.");
  }
  if ((url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "") {
    throw new InvalidArgumentError("Expected a URL such as redis://127.0.0.1:6379.");
  }
  if (!/^\/?(\d+)?$/.test(url.pathname)) {
    throw new InvalidArgumentError(
      "Expected a database number after the port: redis://host:6379/0.",
    );
  }
  return value;
}
