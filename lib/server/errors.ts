import { formatHostPort } from "../net/format_host_port.ts";
import { describeError } from "../util/describe_error.ts";

/** The server cannot listen on the address it was given. */
export class ListenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenError";
  }

  /** "Cannot listen on 0.0.0.0:8080: address already in use", from what Deno threw. */
  static from(hostname: string, port: number, error: unknown): ListenError {
    return new ListenError(
      `Cannot listen on ${formatHostPort(hostname, port)}: ${listenFailure(error)}`,
      { cause: error },
    );
  }
}

function listenFailure(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) return "address already in use";
  if (error instanceof Deno.errors.AddrNotAvailable) return "address not available on this machine";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return describeError(error);
}

/** The server was told to join a cluster, and cannot reach its Redis. */
export class BackplaneConnectError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BackplaneConnectError";
  }
}
