import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 86_400_000;

/** A certificate and its key as PEM, as --tls-cert and --tls-key read them. */
export interface PemPair {
  cert: string;
  key: string;
  /** The certificate's SHA-256, as colon-separated upper-case hex: "AB:CD:...". */
  fingerprint: string;
}

export interface LeafOptions {
  /** Host names and IP addresses the certificate is for. @default ["localhost", "127.0.0.1", "::1"] */
  names?: string[];
  /** @default one hour ago */
  notBefore?: Date;
  /** @default thirty days from now */
  notAfter?: Date;
}

/**
 * A certificate authority made for a test, and the server certificates it signs: valid,
 * expired, or for another name. Each test gets keys of its own; nothing is kept on disk
 * unless the test writes it.
 */
export class TestCertificateAuthority {
  readonly cert: string;
  readonly #certificate: x509.X509Certificate;
  readonly #keys: CryptoKeyPair;

  private constructor(certificate: x509.X509Certificate, keys: CryptoKeyPair) {
    this.#certificate = certificate;
    this.#keys = keys;
    this.cert = certificate.toString("pem");
  }

  static async create(name = "Chat Test CA"): Promise<TestCertificateAuthority> {
    const keys = await newKeys();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${name}`,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + 365 * DAY_MS),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
      ],
    });
    return new TestCertificateAuthority(certificate, keys);
  }

  /** A server certificate signed by this authority. */
  async issue(options: LeafOptions = {}): Promise<PemPair> {
    const names = options.names ?? ["localhost", "127.0.0.1", "::1"];
    const keys = await newKeys();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${names[0]}`,
      issuer: this.#certificate.subject,
      notBefore: options.notBefore ?? new Date(Date.now() - 3_600_000),
      notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY_MS),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.#keys.privateKey,
      extensions: serverExtensions(names),
    });
    return await pemPair(certificate, keys);
  }
}

/** A self-signed server certificate, as `--tls-self-signed` makes, for pinning tests. */
export async function selfSignedCertificate(
  names = ["localhost", "127.0.0.1", "::1"],
): Promise<PemPair> {
  const keys = await newKeys();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${names[0]}`,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 30 * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: serverExtensions(names),
  });
  return await pemPair(certificate, keys);
}

/** Writes a pair to `dir` as cert.pem and key.pem; returns their paths. */
export function writePemPair(dir: string, pair: PemPair): { cert: string; key: string } {
  const paths = { cert: `${dir}/cert.pem`, key: `${dir}/key.pem` };
  Deno.writeTextFileSync(paths.cert, pair.cert);
  Deno.writeTextFileSync(paths.key, pair.key);
  return paths;
}

function serverExtensions(names: string[]): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(
      names.map((value) => ({ type: isIpAddress(value) ? "ip" as const : "dns" as const, value })),
    ),
  ];
}

function isIpAddress(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(":");
}

function newKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  bytes[0] &= 0x7f;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function pemPair(certificate: x509.X509Certificate, keys: CryptoKeyPair): Promise<PemPair> {
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", certificate.rawData));
  return {
    cert: certificate.toString("pem"),
    key: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    fingerprint: Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(
      ":",
    ),
  };
}
