import { describeError } from "../util/describe_error.ts";

/** Plain words for the conditions a person can act on, by the system's error code. */
const BY_CODE: Record<string, string> = {
  ECONNREFUSED: "connection refused - is the server running?",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "timed out",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection aborted",
  EPIPE: "connection closed",
  EADDRNOTAVAIL: "address not available",
  EACCES: "permission denied",
};

/**
 * Why a connection failed, in plain words ("no route to host"), for messages like
 * "Cannot connect to 10.0.0.5:8080: no route to host". Never the system's raw text
 * ("No route to host (os error 113)").
 */
export function describeNetworkError(error: unknown): string {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  if (typeof code === "string" && code in BY_CODE) return BY_CODE[code];
  if (error instanceof Deno.errors.ConnectionRefused) return BY_CODE.ECONNREFUSED;
  if (error instanceof Deno.errors.TimedOut) return BY_CODE.ETIMEDOUT;
  if (error instanceof Deno.errors.PermissionDenied) return BY_CODE.EACCES;
  const message = describeError(error);
  // Deno's resolver: "failed to lookup address information: Name or service not known".
  if (message.startsWith("failed to lookup address information")) return "host not found";
  // Anything else: the system's words, without the number, in the sentence's case.
  const plain = message.replace(/\s*\(os error \d+\)$/, "");
  return plain.charAt(0).toLowerCase() + plain.slice(1);
}
