import { formatHostPort } from "../net/format_host_port.ts";
import { describeError } from "../util/describe_error.ts";

/** The server cannot listen on the address it was given. */
export class ListenError extends Error {
  /** Where it cannot listen: "0.0.0.0:8080". */
  readonly address: string;
  /** Why, in plain words: "address already in use". */
  readonly reason: string;

  constructor(address: string, reason: string, options?: ErrorOptions) {
    super(`Cannot listen on ${address}: ${reason}`, options);
    this.name = "ListenError";
    this.address = address;
    this.reason = reason;
  }

  /** "Cannot listen on 0.0.0.0:8080: address already in use", from what Deno threw. */
  static from(hostname: string, port: number, error: unknown): ListenError {
    return new ListenError(formatHostPort(hostname, port), listenFailure(error), { cause: error });
  }

  /** Whether something else holds the port, such as another server. */
  get inUse(): boolean {
    return this.cause instanceof Deno.errors.AddrInUse;
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
