import * as x509 from "@peculiar/x509";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import type { TlsCertificate } from "../server/options.ts";
import { describeError } from "../util/describe_error.ts";
import { pairProblem } from "./tls_certificate_files.ts";

/** The file in --data-dir that keeps the certificate and its key, as SSH keeps a host key. */
export const SELF_SIGNED_FILE = "tls-self-signed.pem";

const DAY_MS = 86_400_000;

/** Long-lived, as a host key is: clients pin its fingerprint, and a new one breaks every pin. */
const VALID_DAYS = 3650;

/** One kept with less time left than this is made anew, before clients start refusing it. */
const RENEW_DAYS = 30;

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** Why no self-signed certificate could be had, in plain words. */
export class SelfSignedError extends Error {
  override name = "SelfSignedError";
}

export interface SelfSigned {
  tls: TlsCertificate;
  /** SHA-256 of the certificate, colon-separated upper-case hex, as OpenSSL prints it. */
  fingerprint: string;
  /** The file that keeps it. */
  path: string;
  /** Why a new one was made (none was kept, it expired...), or undefined when the kept one was used. */
  made: string | undefined;
}

/**
 * The certificate of --tls-self-signed: the one kept in `dataDir` when it is still valid
 * for a while and names every one of `required` (loopback, this host's name, --tls-name),
 * else a new one for those and `more` (this host's addresses today), kept for next time
 * (mode 0600: it holds the key). Throws SelfSignedError.
 */
export async function selfSignedCertificate(
  dataDir: string,
  required: readonly string[],
  more: readonly string[] = [],
): Promise<SelfSigned> {
  const path = join(dataDir, SELF_SIGNED_FILE);
  const kept = readKept(path);
  const unusable = kept === undefined ? "none was kept" : whyNotReused(kept, required);
  if (kept !== undefined && unusable === undefined) {
    return { tls: kept, fingerprint: fingerprintOf(kept.cert), path, made: undefined };
  }
  const tls = await makeCertificate([...new Set([...required, ...more])]);
  try {
    Deno.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Written whole, then renamed over the old one: never a half-written key.
    const temporary = `${path}.new`;
    Deno.writeTextFileSync(temporary, `${tls.cert}${tls.key}`, { mode: 0o600 });
    Deno.renameSync(temporary, path);
  } catch (error) {
    throw new SelfSignedError(
      `Cannot keep the self-signed certificate in ${path}: ${describeError(error)}`,
    );
  }
  return { tls, fingerprint: fingerprintOf(tls.cert), path, made: unusable };
}

/**
 * The names a self-signed certificate is for: `required`, which a kept one must name, and
 * `more`, named when one is made (addresses come and go; the fingerprint should not).
 */
export function selfSignedNames(extra: readonly string[]): { required: string[]; more: string[] } {
  const required = ["localhost", "127.0.0.1", "::1"];
  // Asked first: without --allow-sys, Deno would stop at a prompt on a terminal.
  if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
    required.push(Deno.hostname());
  }
  required.push(...extra);
  const more: string[] = [];
  const granted =
    Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state === "granted";
  for (const { address } of granted ? Deno.networkInterfaces() : []) {
    // Link-local IPv6 needs a zone, which a certificate cannot name.
    if (address === "::1" || address.startsWith("127.") || /^fe80:/i.test(address)) continue;
    more.push(address);
  }
  return { required: [...new Set(required)], more };
}

/** SHA-256 of a PEM certificate, as `openssl x509 -fingerprint -sha256` prints it. */
export function fingerprintOf(cert: string): string {
  return new X509Certificate(cert).fingerprint256;
}

function readKept(path: string): TlsCertificate | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  const cert = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----\r?\n?/.exec(text);
  const key = /-----BEGIN PRIVATE KEY-----[^]*?-----END PRIVATE KEY-----\r?\n?/.exec(text);
  if (cert === null || key === null) return { cert: "", key: "" };
  return { cert: cert[0], key: key[0] };
}

function whyNotReused(kept: TlsCertificate, required: readonly string[]): string | undefined {
  if (pairProblem(kept) !== undefined) return "the kept one was damaged";
  const certificate = new X509Certificate(kept.cert);
  if (new Date(certificate.validTo).getTime() - Date.now() < RENEW_DAYS * DAY_MS) {
    return `the kept one expires on ${new Date(certificate.validTo).toISOString()}`;
  }
  const missing = required.filter((name) =>
    (isIpAddress(name) ? certificate.checkIP(name) : certificate.checkHost(name)) === undefined
  );
  if (missing.length > 0) return `the kept one does not name ${missing.join(", ")}`;
  return undefined;
}

async function makeCertificate(names: readonly string[]): Promise<TlsCertificate> {
  x509.cryptoProvider.set(crypto);
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Array.from(serial, (b) => b.toString(16).padStart(2, "0")).join(""),
    name: `CN=${names.find((name) => !isIpAddress(name) && name !== "localhost") ?? "localhost"}`,
    // A little in the past, for clients whose clocks lag.
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + VALID_DAYS * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((value) => ({
          type: isIpAddress(value) ? "ip" as const : "dns" as const,
          value,
        })),
      ),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    cert: certificate.toString("pem") + "\n",
    key: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
  };
}

function isIpAddress(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(":");
}
