import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import type { TlsCertificate } from "../server/options.ts";
import { describeError } from "../util/describe_error.ts";

/** A certificate or key file that cannot serve TLS; the message is one line, for the person starting the server. */
export class TlsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsFileError";
  }
}

/**
 * Reads --tls-cert and --tls-key and checks them before any port opens: each is readable
 * PEM, and the key is the certificate's. Deno.listenTls would say only "keys may not be
 * consistent", or "No certificates found", with no file named. Throws TlsFileError.
 */
export function readTlsCertificate(certFile: string, keyFile: string): TlsCertificate {
  const tls = { cert: readPem("--tls-cert", certFile), key: readPem("--tls-key", keyFile) };
  const problem = pairProblem(tls);
  if (problem === undefined) return tls;
  throw new TlsFileError(
    problem === "cert"
      ? `--tls-cert ${certFile} holds no PEM certificate`
      : problem === "key"
      ? `--tls-key ${keyFile} holds no usable PEM private key`
      : `--tls-key ${keyFile} is not the key of the certificate in --tls-cert ${certFile}`,
  );
}

/**
 * What is wrong with a certificate and key: "cert" or "key" (not PEM, or not readable as
 * one), "mismatch" (the key is another certificate's), or undefined when they make a pair.
 */
export function pairProblem(tls: TlsCertificate): "cert" | "key" | "mismatch" | undefined {
  let certificate: X509Certificate;
  let key: KeyObject;
  try {
    certificate = new X509Certificate(tls.cert);
  } catch {
    return "cert";
  }
  try {
    key = createPrivateKey(tls.key);
  } catch {
    return "key";
  }
  return certificate.checkPrivateKey(key) ? undefined : "mismatch";
}

/**
 * A warning when the certificate (the first of the chain) is outside its validity at
 * `now`: clients that verify it will refuse it. Undefined when it is valid.
 */
export function validityWarning(cert: string, what: string, now = new Date()): string | undefined {
  const certificate = new X509Certificate(cert);
  const from = new Date(certificate.validFrom);
  const to = new Date(certificate.validTo);
  if (now > to) {
    return `the certificate in ${what} expired on ${to.toISOString()}; clients will refuse it`;
  }
  if (now < from) {
    return `the certificate in ${what} is not valid until ${from.toISOString()}; ` +
      "clients will refuse it (is the clock right?)";
  }
  return undefined;
}

function readPem(flag: string, file: string): string {
  try {
    return Deno.readTextFileSync(file);
  } catch (error) {
    throw new TlsFileError(`Cannot read ${flag} ${file}: ${describeError(error)}`);
  }
}
