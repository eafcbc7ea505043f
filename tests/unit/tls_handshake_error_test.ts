import assert from "node:assert/strict";
import { CertificateError, TlsMismatchError } from "../../lib/client/errors.ts";
import { tlsHandshakeError } from "../../lib/client/tls_handshake_error.ts";

const ADDRESS = "chat.example:6697";
const rustls = (message: string) => new Deno.errors.InvalidData(message);

Deno.test("tls handshake error - each refused certificate in one line, final", () => {
  const cases: [string, string, string][] = [
    [
      "invalid peer certificate: certificate expired: verification time 1796447296 (UNIX), " +
      "but certificate is not valid after 1796360896 (86400 seconds ago)",
      "expired",
      "Cannot verify chat.example:6697: its certificate expired on 2026-12-04T05:08:16Z",
    ],
    [
      "invalid peer certificate: certificate not valid yet: verification time 1796447296 " +
      "(UNIX), but certificate is not valid before 1796533696 (86400 seconds in future)",
      "not yet valid",
      "Cannot verify chat.example:6697: its certificate is not valid until " +
      "2026-12-06T05:08:16Z (is this computer's clock right?)",
    ],
    [
      'invalid peer certificate: certificate not valid for name "chat.example"; certificate ' +
      'is only valid for DnsName("other.example"), DnsName("b.example") or IpAddress(10.1.2.3)',
      "wrong name",
      "Cannot verify chat.example:6697: its certificate is not for the name chat.example: " +
      "it is only for other.example, b.example or 10.1.2.3",
    ],
    [
      "invalid peer certificate: UnknownIssuer",
      "unknown issuer",
      "Cannot verify chat.example:6697: its certificate is not signed by a trusted authority. " +
      "Give its authority with --ca, or pin it with --fingerprint",
    ],
    [
      "invalid peer certificate: BadSignature",
      "other",
      "Cannot verify chat.example:6697: its certificate is refused (BadSignature)",
    ],
  ];
  for (const [message, problem, line] of cases) {
    const error = tlsHandshakeError(rustls(message), ADDRESS);
    assert.ok(error instanceof CertificateError, message);
    assert.equal(error.problem, problem);
    assert.equal(error.message, line);
    assert.ok(error.final);
  }
});

Deno.test("tls handshake error - an unknown self-signed certificate: its fingerprint on a line of its own, to pin", () => {
  const error = tlsHandshakeError(rustls("invalid peer certificate: UnknownIssuer"), ADDRESS, {
    fingerprint: "AB:CD",
    issuer: "CN=chat.example",
    selfSigned: true,
  });
  assert.equal(
    error.message,
    "Cannot verify chat.example:6697: its certificate is self-signed. Its SHA-256 fingerprint " +
      "is in the line below: if it is the one the server printed at start, connect with that " +
      "option",
  );
  assert.equal(error.command, "--fingerprint AB:CD");
});

Deno.test("tls handshake error - a certificate from an authority not trusted here asks for --ca, naming it, not a pin", () => {
  const error = tlsHandshakeError(rustls("invalid peer certificate: UnknownIssuer"), ADDRESS, {
    fingerprint: "AB:CD",
    issuer: "CN=Trial CA",
    selfSigned: false,
  });
  assert.equal(
    error.message,
    "Cannot verify chat.example:6697: its certificate is signed by an authority this machine " +
      "does not trust (CN=Trial CA): connect with --ca FILE (that authority's certificate)",
  );
  assert.equal(error.command, undefined);
});

Deno.test("tls handshake error - a plain server is a final mismatch; a dropped connection is retried", () => {
  const plain = tlsHandshakeError(
    rustls("received corrupt message of type InvalidContentType"),
    ADDRESS,
  );
  assert.ok(plain instanceof TlsMismatchError);
  assert.ok(plain.final);
  assert.match(plain.message, /does not speak TLS/);

  const reset = tlsHandshakeError(
    Object.assign(new Error("Connection reset by peer (os error 104)"), { code: "ECONNRESET" }),
    ADDRESS,
  );
  assert.ok(!(reset instanceof CertificateError));
  assert.ok(!reset.final);
  assert.equal(reset.message, "Cannot connect to chat.example:6697: connection reset");
});
