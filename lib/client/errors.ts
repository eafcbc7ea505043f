export interface ConnectErrorOptions extends ErrorOptions {
  /** Trying again cannot help (the program may not use the network). @default false */
  final?: boolean;
  /** What to connect with instead, for the user to copy whole: `--fingerprint AB:CD:...`. */
  command?: string;
}

/** The server cannot be reached. The message says why in plain words. */
export class ConnectError extends Error {
  readonly final: boolean;
  /** Options to connect with, to show on a line of their own after the message. */
  readonly command: string | undefined;

  constructor(message: string, options?: ConnectErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
    this.final = options?.final ?? false;
    this.command = options?.command;
  }
}

/** Why a server's certificate was refused. */
export type CertificateProblem =
  | "expired"
  | "not yet valid"
  | "wrong name"
  | "unknown issuer"
  | "fingerprint mismatch"
  | "other";

/**
 * The server's certificate was refused. Final: the client neither tries again (the same
 * certificate would come back) nor falls back to plain text.
 */
export class CertificateError extends ConnectError {
  readonly problem: CertificateProblem;

  constructor(
    message: string,
    problem: CertificateProblem,
    options?: ErrorOptions & { command?: string },
  ) {
    super(message, { ...options, final: true });
    this.name = "CertificateError";
    this.problem = problem;
  }
}

/**
 * One side speaks TLS and the other does not: the wrong flag or the wrong port. Final, as
 * trying again would meet the same server.
 */
export class TlsMismatchError extends ConnectError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, final: true });
    this.name = "TlsMismatchError";
  }
}
