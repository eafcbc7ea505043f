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

/** The server cannot use its history file (lib/server/history/sqlite_history.ts). */
export class HistoryFileError extends Error {
  /** The file: "/var/lib/chat/history.sqlite3". */
  readonly path: string;
  /** Why, in plain words: "file is not a database". */
  readonly reason: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`Cannot open history file ${path}: ${reason}`, options);
    this.name = "HistoryFileError";
    this.path = path;
    this.reason = reason;
  }
}

/** The history file is no SQLite database (damaged, or another kind of file). Left as it is. */
export class HistoryFileCorruptError extends HistoryFileError {
  override name = "HistoryFileCorruptError";
}

/** The history file is another application's SQLite database. Left as it is. */
export class HistoryFileForeignError extends HistoryFileError {
  override name = "HistoryFileForeignError";
}

/** The history file was written by a newer server, in a schema this one does not know. */
export class HistoryFileVersionError extends HistoryFileError {
  override name = "HistoryFileVersionError";
}
