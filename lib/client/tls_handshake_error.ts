import { describeError } from "../util/describe_error.ts";
import { describeNetworkError } from "./describe_network_error.ts";
import { CertificateError, ConnectError, TlsMismatchError } from "./errors.ts";

/** rustls's words for a certificate signed by no authority the client trusts. */
const UNKNOWN_ISSUER = "invalid peer certificate: UnknownIssuer";

/** Whether a handshake failed on a certificate signed by no trusted authority. */
export function isUnknownIssuer(error: unknown): boolean {
  return error instanceof Deno.errors.InvalidData && error.message.includes(UNKNOWN_ISSUER);
}

/**
 * The ConnectError, in one line, for a TLS handshake with the server at `address` that
 * failed. `probed`: the server's certificate, when it could be read, for an unknown issuer:
 * a self-signed one is pinned by its fingerprint, one from a private authority needs --ca. Certificates refused and a server that does not speak TLS are final; a
 * connection lost during the handshake is not. Reads rustls's messages (Deno 2.9):
 * "invalid peer certificate: certificate expired: verification time ..., but certificate
 * is not valid after 1796360896 (...)", "certificate not valid for name "localhost";
 * certificate is only valid for DnsName("a.example") or IpAddress(10.1.2.3)".
 */
export function tlsHandshakeError(
  error: unknown,
  address: string,
  probed?: ProbedIssuer,
): ConnectError {
  const message = describeError(error);
  // Deno.startTls's InvalidData, or node:tls's Error (the probe of a pinned certificate).
  if (message.includes("InvalidContentType")) return notTls(address, { cause: error });
  if (!(error instanceof Deno.errors.InvalidData)) {
    return new ConnectError(`Cannot connect to ${address}: ${describeNetworkError(error)}`, {
      cause: error,
    });
  }
  const cannotVerify = `Cannot verify ${address}:`;
  if (isUnknownIssuer(error)) {
    if (probed?.selfSigned === false) {
      return new CertificateError(
        `${cannotVerify} its certificate is signed by an authority this machine does not trust ` +
          `(${probed.issuer}): connect with --ca FILE (that authority's certificate)`,
        "unknown issuer",
        { cause: error },
      );
    }
    const notTrusted = `${cannotVerify} its certificate is not signed by a trusted authority.`;
    if (probed === undefined) {
      return new CertificateError(
        `${notTrusted} Give its authority with --ca, or pin it with --fingerprint`,
        "unknown issuer",
        { cause: error },
      );
    }
    // The option on a line of its own: a fingerprint cut by a wrap could not be pasted.
    return new CertificateError(
      `${cannotVerify} its certificate is self-signed. Its SHA-256 fingerprint is in the line ` +
        "below: if it is the one the server printed at start, connect with that option",
      "unknown issuer",
      { cause: error, command: `--fingerprint ${probed.fingerprint}` },
    );
  }
  const expired = /certificate expired: .*not valid after (\d+)/.exec(message);
  if (expired) {
    return new CertificateError(
      `${cannotVerify} its certificate expired on ${isoDate(expired[1])}`,
      "expired",
      { cause: error },
    );
  }
  const notYet = /certificate not valid yet: .*not valid before (\d+)/.exec(message);
  if (notYet) {
    return new CertificateError(
      `${cannotVerify} its certificate is not valid until ${
        isoDate(notYet[1])
      } (is this computer's clock right?)`,
      "not yet valid",
      { cause: error },
    );
  }
  const wrongName = /not valid for name "([^"]*)"(?:; certificate is only valid for (.*))?/.exec(
    message,
  );
  if (wrongName) {
    const [, name, valid] = wrongName;
    const names = valid === undefined ? "" : `: it is only for ${presentedNames(valid)}`;
    return new CertificateError(
      `${cannotVerify} its certificate is not for the name ${name}${names}`,
      "wrong name",
      { cause: error },
    );
  }
  const certificate = /invalid peer certificate: (.*)/.exec(message);
  if (certificate) {
    return new CertificateError(
      `${cannotVerify} its certificate is refused (${certificate[1]})`,
      "other",
      {
        cause: error,
      },
    );
  }
  // Anything else the handshake met (an alert, a broken record) comes back on a retry.
  return new ConnectError(`Cannot connect to ${address}: the TLS handshake failed (${message})`, {
    cause: error,
    final: true,
  });
}

/** The server at `address` answered a TLS handshake in plain text: final. */
export function notTls(address: string, options?: ErrorOptions): TlsMismatchError {
  return new TlsMismatchError(
    `Cannot connect to ${address}: the server does not speak TLS (it answered in plain ` +
      "text): connect without --tls, or check the port",
    options,
  );
}

/** What the client read of a certificate it could not verify. */
export interface ProbedIssuer {
  /** Its SHA-256 fingerprint, "AB:CD:...". */
  fingerprint: string;
  /** Who signed it, as `CN=Trial CA`. */
  issuer: string;
  selfSigned: boolean;
}

/** Seconds since 1970 as "2026-12-04T05:06:19Z". */
function isoDate(seconds: string): string {
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/** `DnsName("a.example"), DnsName("b.example") or IpAddress(10.1.2.3)` -> "a.example, b.example or 10.1.2.3" */
function presentedNames(text: string): string {
  return text.replace(/DnsName\("([^"]*)"\)/g, "$1").replace(/IpAddress\(([^)]*)\)/g, "$1");
}
