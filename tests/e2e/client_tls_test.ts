import assert from "node:assert/strict";
import { freePort, runClient } from "../support/client_process.ts";
import { startWithHttp } from "../support/server_with_http.ts";
import { ServerProcess } from "../support/server_process.ts";
import { selfSignedCertificate, TestCertificateAuthority } from "../support/test_certificates.ts";
import { TlsServer } from "../support/tls_server.ts";

const DAY_MS = 86_400_000;

/** The one line a refused client printed after "connecting to": no retry announced. */
function onlyLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n").filter((line) => !line.startsWith("connecting to "));
  assert.equal(lines.length, 1, `one line, no retries:\n${stderr}`);
  return lines[0];
}

Deno.test("client tls - --ca trusts a private authority: connects and chats", async () => {
  const ca = await TestCertificateAuthority.create();
  await using tls = await TlsServer.start(await ca.issue());
  const caFile = tls.write("ca.pem", ca.cert);
  const run = await runClient(["--port", tls.port, "--ca", caFile, "--nick", "alice"], "hi\n");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "* you are now alice\n(broadcast) alice: hi\n");
  await tls.server.stdout.waitFor(/connected 127\.0\.0\.1:\d+ \(tcp\+tls\) as guest-\d+/);
});

Deno.test("client tls - an expired certificate is refused in one line, and not tried again", async () => {
  const ca = await TestCertificateAuthority.create();
  const notAfter = new Date(Date.now() - DAY_MS);
  await using tls = await TlsServer.start(
    await ca.issue({ notBefore: new Date(Date.now() - 10 * DAY_MS), notAfter }),
  );
  const run = await runClient(["--port", tls.port, "--ca", tls.write("ca.pem", ca.cert)], "hi\n");
  assert.equal(run.code, 1);
  const day = notAfter.toISOString().slice(0, 10);
  assert.match(
    onlyLine(run.stderr),
    new RegExp(`^Cannot verify 127\\.0\\.0\\.1:${tls.port}: its certificate expired on ${day}T`),
  );
});

Deno.test("client tls - a certificate for other names is refused, naming them", async () => {
  const ca = await TestCertificateAuthority.create();
  await using tls = await TlsServer.start(
    await ca.issue({ names: ["chat.example", "10.1.2.3"] }),
  );
  const run = await runClient(["--port", tls.port, "--ca", tls.write("ca.pem", ca.cert)]);
  assert.equal(run.code, 1);
  assert.equal(
    onlyLine(run.stderr),
    `Cannot verify 127.0.0.1:${tls.port}: its certificate is not for the name 127.0.0.1: ` +
      "it is only for chat.example or 10.1.2.3",
  );
});

Deno.test("client tls - an unknown self-signed certificate: prints how to pin it, the option on a line of its own, once", async () => {
  const pair = await selfSignedCertificate();
  await using tls = await TlsServer.start(pair);
  const run = await runClient(["--port", tls.port, "--tls"]);
  assert.equal(run.code, 1);
  const lines = run.stderr.trimEnd().split("\n").filter((line) => !line.startsWith("connecting"));
  assert.deepEqual(lines, [
    `Cannot verify 127.0.0.1:${tls.port}: its certificate is self-signed. Its SHA-256 ` +
    "fingerprint is in the line below: if it is the one the server printed at start, connect " +
    "with that option",
    `--fingerprint ${pair.fingerprint}`,
  ]);
});

Deno.test("client tls - a certificate from a private authority: --tls alone asks for --ca, naming the authority", async () => {
  const ca = await TestCertificateAuthority.create("Trial CA");
  await using tls = await TlsServer.start(await ca.issue());
  const run = await runClient(["--port", tls.port, "--tls"]);
  assert.equal(run.code, 1);
  assert.equal(
    onlyLine(run.stderr),
    `Cannot verify 127.0.0.1:${tls.port}: its certificate is signed by an authority this ` +
      "machine does not trust (CN=Trial CA): connect with --ca FILE (that authority's certificate)",
  );
});

Deno.test("client tls - --fingerprint pins a self-signed server, in either spelling", async () => {
  const pair = await selfSignedCertificate();
  await using tls = await TlsServer.start(pair);
  const bare = pair.fingerprint.replaceAll(":", "").toLowerCase();
  for (const [pin, nick] of [[pair.fingerprint, "colons"], [bare, "bare"]]) {
    const run = await runClient(["--port", tls.port, "--fingerprint", pin, "--nick", nick], "hi\n");
    assert.equal(run.code, 0, run.stderr);
    // The probe of the certificate was a session too, that left: others may see it go.
    assert.equal(run.stdout.split("\n").at(-2), `(broadcast) ${nick}: hi`);
  }
});

Deno.test("client tls - a fingerprint that does not match is refused: expected, then got", async () => {
  const pair = await selfSignedCertificate();
  const other = await selfSignedCertificate();
  await using tls = await TlsServer.start(pair);
  const run = await runClient(["--port", tls.port, "--fingerprint", other.fingerprint], "hi\n");
  assert.equal(run.code, 1);
  assert.equal(
    onlyLine(run.stderr),
    `Cannot verify 127.0.0.1:${tls.port}: its certificate does not match the pinned ` +
      `fingerprint (expected ${other.fingerprint}, got ${pair.fingerprint})`,
  );
  assert.equal(run.stdout, "");
});

Deno.test("client tls - a plain client meeting a TLS server is told to use --tls, once", async () => {
  await using tls = await TlsServer.start(await selfSignedCertificate());
  // Waiting for a Welcome that never comes would show as its message, and one retry as another.
  const run = await runClient(["--port", tls.port, "--retries", "1", "--timeout", "20"], "hi\n");
  assert.equal(run.code, 1);
  assert.equal(
    onlyLine(run.stderr),
    `Cannot connect to 127.0.0.1:${tls.port}: the server uses TLS: connect with --tls ` +
      "(and --ca or --fingerprint if its certificate is self-signed)",
  );
});

Deno.test("client tls - a TLS client meeting a plain server says so, once", async () => {
  await using server = await ServerProcess.start();
  const run = await runClient(["--port", String(server.port), "--tls", "--retries", "1"], "hi\n");
  assert.equal(run.code, 1);
  assert.equal(
    onlyLine(run.stderr),
    `Cannot connect to 127.0.0.1:${server.port}: the server does not speak TLS (it answered ` +
      "in plain text): connect without --tls, or check the port",
  );
});

Deno.test("client tls - a malformed --fingerprint or an unreadable --ca is a usage error", async () => {
  const malformed = await runClient(["--fingerprint", "AB:CD", "send", "x"]);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /Expected a SHA-256 fingerprint/);
  const missing = await runClient(["--ca", "/nonexistent/ca.pem", "send", "x"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^error: --ca \/nonexistent\/ca\.pem: cannot read it/);
});

Deno.test("client tls - --fingerprint to a plain port says the server does not speak TLS, once", async () => {
  await using server = await ServerProcess.start();
  const pin = (await selfSignedCertificate()).fingerprint;
  const run = await runClient(["--port", String(server.port), "--fingerprint", pin], "hi\n");
  assert.equal(run.code, 1);
  assert.equal(
    onlyLine(run.stderr),
    `Cannot connect to 127.0.0.1:${server.port}: the server does not speak TLS (it answered ` +
      "in plain text): connect without --tls, or check the port",
  );
});

Deno.test("client tls - the web port, plain or HTTPS, is named at once, with or without TLS, and not tried again", async () => {
  const webPort = (port: number | string) =>
    `Cannot connect to 127.0.0.1:${port}: that is the server's web port (HTTP): connect to its ` +
    "chat port (8080 by default)";
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  const pin = (await selfSignedCertificate()).fingerprint;
  for (const flags of [[], ["--tls"], ["--fingerprint", pin]]) {
    const run = await runClient(["--port", String(httpPort), ...flags], "hi\n");
    assert.equal(run.code, 1, flags.join(" "));
    assert.equal(onlyLine(run.stderr), webPort(httpPort), flags.join(" "));
  }

  const pair = await selfSignedCertificate();
  const httpsPort = freePort();
  await using tls = await TlsServer.start(pair, ["--http-port", String(httpsPort)]);
  await tls.server.stdout.waitFor(`https://127.0.0.1:${httpsPort} in a browser`);
  // The Welcome timeout, should the client wait for one, outlasts the test's patience.
  const run = await runClient(
    ["--port", String(httpsPort), "--fingerprint", pair.fingerprint, "--timeout", "600"],
    "hi\n",
  );
  assert.equal(run.code, 1);
  assert.equal(onlyLine(run.stderr), webPort(httpsPort));
});
