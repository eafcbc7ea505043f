import { isIP } from "node:net";
import { formatHostPort } from "../net/format_host_port.ts";
import { tuneConn } from "../net/stream_conn.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import {
  certificateFingerprint,
  formatFingerprint,
  parseFingerprint,
  sameFingerprint,
} from "./certificate_fingerprint.ts";
import { connectTcp } from "./connect_tcp.ts";
import { CertificateError, ConnectError, TlsMismatchError } from "./errors.ts";
import { probeCertificate, type ProbedCertificate } from "./probe_certificate.ts";
import {
  isUnknownIssuer,
  notTls,
  type ProbedIssuer,
  tlsHandshakeError,
} from "./tls_handshake_error.ts";
import { probePlainPort, WEB_PORT } from "./port_probe.ts";

/** How the client connects over TLS. */
export interface ClientTlsOptions {
  /**
   * Certificates (PEM) of authorities trusted besides the root store, for a server whose
   * certificate a private CA signed. @default []
   */
  caCerts?: string[];
  /**
   * The SHA-256 fingerprint of the server's own certificate ("AB:CD:..." or 64 hex
   * digits), for a self-signed server: that certificate is trusted, for its own names,
   * instead of asking an authority. @default undefined: verified through the roots and caCerts
   */
  fingerprint?: string;
}

/**
 * Connects over TLS by `deadline` (a Date.now() time), the server verified, or throws
 * ConnectError saying why (a CertificateError when its certificate is refused). Never
 * falls back to plain text.
 */
export async function connectTls(
  hostname: string,
  port: number,
  options: ClientTlsOptions,
  deadline: number,
): Promise<Deno.TlsConn> {
  const address = formatHostPort(hostname, port);
  const pinned = options.fingerprint === undefined
    ? undefined
    : await pinnedCertificate(hostname, port, options.fingerprint, deadline);
  const conn = await connectTcp(hostname, port, deadline);
  // A TlsConn has no setNoDelay: the TCP connection under it is tuned before the upgrade.
  tuneConn(conn);
  const upgrading = (async () => {
    const tls = await Deno.startTls(conn, {
      hostname: pinned?.hostname ?? hostname,
      caCerts: pinned === undefined ? options.caCerts ?? [] : [pinned.pem],
    });
    try {
      await tls.handshake();
    } catch (error) {
      tls.close();
      throw error;
    }
    return tls;
  })();
  let failure: unknown;
  let tls: Deno.TlsConn | undefined;
  const settled = await waitAtMost(
    upgrading.then((t) => tls = t, (error) => failure = error),
    deadline - Date.now(),
  );
  if (!settled) {
    upgrading.then((t) => t.close(), () => {});
    closeQuietly(conn);
    throw new ConnectError(`Cannot connect to ${address}: the TLS handshake timed out`);
  }
  if (tls !== undefined) return tls;
  closeQuietly(conn);
  if (pinned !== undefined && isUnknownIssuer(failure)) {
    // A certificate is its own anchor only if it signed itself.
    throw new CertificateError(
      `Cannot verify ${address}: its certificate has the pinned fingerprint, but an authority ` +
        "signed it, and only a self-signed one can be pinned: connect with --ca and that authority",
      "unknown issuer",
      { cause: failure },
    );
  }
  // Fixed by pinning (a self-signed certificate: show the fingerprint) or by --ca (name the
  // authority): the certificate tells which.
  const probed = isUnknownIssuer(failure) ? await probeIssuer(hostname, port, deadline) : undefined;
  throw await droppedHandshake(
    tlsHandshakeError(failure, address, probed),
    hostname,
    port,
    deadline,
  );
}

/**
 * `error`, or, when the server dropped the handshake without a word (a web port waits for a
 * request head, then closes), what it answers in plain text: a web port, or a chat server
 * without TLS. Either is final.
 */
async function droppedHandshake(
  error: ConnectError,
  hostname: string,
  port: number,
  deadline: number,
): Promise<ConnectError> {
  if (error.final) return error;
  const address = formatHostPort(hostname, port);
  const answer = await probePlainPort(hostname, port, Math.max(1_000, deadline - Date.now()));
  if (answer === "http") {
    return new TlsMismatchError(`Cannot connect to ${address}: ${WEB_PORT}`, { cause: error });
  }
  return answer === "plain" ? notTls(address, { cause: error }) : error;
}

/** A certificate the server presented that matched the pin, and the name to verify it for. */
interface PinnedCertificate {
  pem: string;
  hostname: string;
}

/**
 * Certificates that matched their pin, by pin and address, for the process's life: a
 * reconnect is verified against one without probing again. A probe completes a handshake,
 * so the server starts a session for it, which others see as a guest who came and went.
 */
const PINNED = new Map<string, PinnedCertificate>();

/**
 * Reads the server's certificate and checks it against the pin. The probe proves nothing
 * about who holds the key (it does not verify the handshake), so the real connection then
 * trusts that certificate alone as its anchor: rustls checks that the server holds its
 * key. Host names are still verified, for one of the certificate's own names: without it,
 * any publicly trusted certificate would pass (caCerts adds to the roots). "localhost" or an
 * IP address first, the names no public authority certifies.
 */
async function pinnedCertificate(
  hostname: string,
  port: number,
  pin: string,
  deadline: number,
): Promise<PinnedCertificate> {
  const address = formatHostPort(hostname, port);
  const expected = parseFingerprint(pin);
  if (expected === undefined) {
    throw new ConnectError(`"${pin}" is not a SHA-256 fingerprint`, { final: true });
  }
  const key = `${formatFingerprint(expected)} ${address}`;
  const known = PINNED.get(key);
  if (known !== undefined) return known;
  let probed: ProbedCertificate;
  try {
    probed = await probeCertificate(hostname, port, deadline - Date.now());
  } catch (error) {
    throw await droppedHandshake(tlsHandshakeError(error, address), hostname, port, deadline);
  }
  const actual = await certificateFingerprint(probed.der);
  if (!sameFingerprint(actual, expected)) {
    throw new CertificateError(
      `Cannot verify ${address}: its certificate does not match the pinned fingerprint ` +
        `(expected ${formatFingerprint(expected)}, got ${formatFingerprint(actual)})`,
      "fingerprint mismatch",
    );
  }
  const name = probed.names.find((name) => name === "localhost") ??
    probed.names.find((name) => isIP(name) !== 0) ?? probed.names[0];
  if (name === undefined) {
    throw new CertificateError(
      `Cannot verify ${address}: its certificate names no host (no subjectAltName)`,
      "wrong name",
    );
  }
  const pinned = { pem: pemCertificate(probed.der), hostname: name };
  PINNED.set(key, pinned);
  return pinned;
}

/** The server certificate's fingerprint and issuer, or undefined if it cannot be read in time. */
async function probeIssuer(
  hostname: string,
  port: number,
  deadline: number,
): Promise<ProbedIssuer | undefined> {
  try {
    const probed = await probeCertificate(hostname, port, Math.max(1_000, deadline - Date.now()));
    const fingerprint = formatFingerprint(await certificateFingerprint(probed.der));
    return { fingerprint, issuer: probed.issuer, selfSigned: probed.selfSigned };
  } catch {
    return undefined;
  }
}

function pemCertificate(der: Uint8Array): string {
  const base64 = btoa(String.fromCharCode(...der));
  const lines = base64.match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed, or handed over to the TLS connection.
  }
}
