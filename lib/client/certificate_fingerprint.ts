/** A certificate's SHA-256 fingerprint, as servers print it and `--fingerprint` takes it. */

const COLON_PAIRS = /^[0-9a-f]{2}(?::[0-9a-f]{2}){31}$/i;
const BARE_HEX = /^[0-9a-f]{64}$/i;

/**
 * Reads a SHA-256 fingerprint written "AB:CD:..." (32 pairs) or "abcd..." (64 hex digits),
 * in either case; undefined when it is neither.
 */
export function parseFingerprint(text: string): Uint8Array | undefined {
  const trimmed = text.trim();
  if (!COLON_PAIRS.test(trimmed) && !BARE_HEX.test(trimmed)) return undefined;
  const hex = trimmed.replaceAll(":", "");
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** "AB:CD:...": the form OpenSSL, browsers and the server print. */
export function formatFingerprint(fingerprint: Uint8Array): string {
  return Array.from(fingerprint, (byte) => byte.toString(16).padStart(2, "0").toUpperCase())
    .join(":");
}

/** The SHA-256 of a certificate's DER bytes. */
export async function certificateFingerprint(der: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>));
}

/**
 * Whether two fingerprints are the same, in a time that does not depend on where they
 * differ: how long a refusal takes tells nothing about the pin.
 */
export function sameFingerprint(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
