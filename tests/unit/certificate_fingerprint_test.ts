import assert from "node:assert/strict";
import {
  certificateFingerprint,
  formatFingerprint,
  parseFingerprint,
  sameFingerprint,
} from "../../lib/client/certificate_fingerprint.ts";

const COLONS = Array.from({ length: 32 }, (_, i) => (i * 8).toString(16).padStart(2, "0"))
  .join(":").toUpperCase();
const BYTES = Uint8Array.from({ length: 32 }, (_, i) => i * 8);

Deno.test("certificate fingerprint - read with colons or without, in either case", () => {
  assert.deepEqual(parseFingerprint(COLONS), BYTES);
  assert.deepEqual(parseFingerprint(` ${COLONS.toLowerCase()} `), BYTES);
  assert.deepEqual(parseFingerprint(COLONS.replaceAll(":", "")), BYTES);
  assert.equal(formatFingerprint(BYTES), COLONS);
});

Deno.test("certificate fingerprint - anything but 32 bytes of hex is not one", () => {
  for (
    const text of [
      "",
      "AB:CD",
      COLONS.slice(3), // 31 pairs
      `${COLONS}:00`, // 33 pairs
      COLONS.replace(":", ""), // colons in some places only
      COLONS.replace("0", "G"),
      `SHA256:${COLONS}`,
    ]
  ) {
    assert.equal(parseFingerprint(text), undefined, text);
  }
});

Deno.test("certificate fingerprint - the SHA-256 of the DER bytes, compared whole", async () => {
  const der = new TextEncoder().encode("abc");
  const fingerprint = await certificateFingerprint(der);
  assert.equal(
    formatFingerprint(fingerprint).replaceAll(":", "").toLowerCase(),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.ok(sameFingerprint(fingerprint, fingerprint.slice()));
  const last = fingerprint.slice();
  last[31] ^= 1;
  assert.ok(!sameFingerprint(fingerprint, last));
  assert.ok(!sameFingerprint(fingerprint, fingerprint.subarray(0, 31)));
});
