import { isIP } from "node:net";
import * as tls from "node:tls";
import { waitAtMost } from "../util/wait_at_most.ts";

/** The certificate a TLS server presents, as read without verifying it. */
export interface ProbedCertificate {
  /** The certificate itself (DER). */
  der: Uint8Array;
  /** The host names and IP addresses it is for (its subjectAltName), in its order. */
  names: string[];
  /** Who signed it, as `CN=Trial CA, O=Example`. */
  issuer: string;
  /** Issued by its own subject: a certificate that can be pinned, where others need --ca. */
  selfSigned: boolean;
}

/**
 * Reads the certificate a TLS server presents, without verifying it, and closes the
 * connection once the handshake is done: nothing is sent on it. What it returns proves
 * nothing by itself (no check that the server holds the certificate's key); it serves to
 * show a fingerprint, or to compare one with a pin before a verified connection.
 * node:tls, since Deno.connectTls cannot hand over the peer's certificate.
 */
export async function probeCertificate(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<ProbedCertificate> {
  const socket = tls.connect({
    host: hostname,
    port,
    // SNI takes names only; an IP address there is refused.
    servername: isIP(hostname) === 0 ? hostname : undefined,
    rejectUnauthorized: false,
  });
  const probed = new Promise<ProbedCertificate>((resolve, reject) => {
    socket.once("secureConnect", () => {
      const certificate = socket.getPeerCertificate(true);
      if (certificate.raw === undefined) reject(new Error("the server sent no certificate"));
      else {
        const issuer = distinguishedName(certificate.issuer);
        resolve({
          der: new Uint8Array(certificate.raw),
          names: alternativeNames(certificate.subjectaltname ?? ""),
          issuer,
          selfSigned: issuer === distinguishedName(certificate.subject),
        });
      }
    });
    socket.once("error", reject);
  });
  try {
    if (!await waitAtMost(probed, timeoutMs)) throw new Error("timed out");
    return await probed;
  } finally {
    socket.destroy();
  }
}

/** { CN: "Trial CA", O: "Example" } -> "CN=Trial CA, O=Example" */
function distinguishedName(name: tls.Certificate | undefined): string {
  return Object.entries(name ?? {}).map(([key, value]) => `${key}=${value}`).join(", ");
}

/** "DNS:localhost, IP Address:127.0.0.1" -> ["localhost", "127.0.0.1"]; other kinds left out. */
function alternativeNames(subjectAltName: string): string[] {
  const names: string[] = [];
  for (const entry of subjectAltName.split(", ")) {
    const match = /^(?:DNS|IP Address):(.+)$/.exec(entry);
    if (match) names.push(match[1]);
  }
  return names;
}
