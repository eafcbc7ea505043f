import assert from "node:assert/strict";
import { connect } from "node:tls";
import { Action, ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { deadline } from "../support/deadline.ts";
import { SERVER_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { startWithHttp } from "../support/server_with_http.ts";
import { TestClient } from "../support/test_client.ts";
import { RedisProcess } from "../support/redis_process.ts";
import { WORKERS_LAUNCHER } from "../support/workers_launcher.ts";
import { TestCertificateAuthority, writePemPair } from "../support/test_certificates.ts";

/** The server may read the certificate files the test wrote; it keeps no history. */
const LAUNCHER = [Deno.execPath(), "run", "--allow-net", "--allow-read", SERVER_SCRIPT];

/** A CA, and a server certificate it signed, written to a folder of the test's own. */
async function certificates(): Promise<
  { ca: TestCertificateAuthority; args: string[]; [Symbol.asyncDispose](): Promise<void> }
> {
  const ca = await TestCertificateAuthority.create();
  const dir = await Deno.makeTempDir({ prefix: "tls-" });
  const paths = writePemPair(dir, await ca.issue());
  return {
    ca,
    args: ["--tls-cert", paths.cert, "--tls-key", paths.key, "--history-size", "0"],
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Reads until the server closes the connection (or resets it). */
async function readToEnd(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(1024);
  try {
    while (await conn.read(buffer) !== null) {
      // Dropped.
    }
  } catch {
    // A reset ends it too.
  }
}

const chat = (content: string) => ({
  body: { case: "chat" as const, value: { content, action: Action.BROADCAST, clientSeq: 1n } },
});

Deno.test("TLS server - a client that trusts the CA gets its Welcome and chats", async () => {
  await using tls = await certificates();
  await using server = await ServerProcess.start(tls.args, LAUNCHER);
  assert.match(await server.stdout.waitFor("listening on"), /with TLS/);
  await using alice = await TestClient.connectTls(server.port, [tls.ca.cert]);
  await using bob = await TestClient.connectTls(server.port, [tls.ca.cert]);
  await alice.send(chat("over TLS"));
  assert.equal((await bob.next("chat")).content, "over TLS");
});

Deno.test("TLS server - a connection that reads the certificate and closes never becomes a session", async () => {
  await using tls = await certificates();
  await using server = await ServerProcess.start(tls.args, LAUNCHER);
  await using alice = await TestClient.connectTls(server.port, [tls.ca.cert]);
  // What a client pinning a fingerprint does first: a handshake, a look, and gone.
  const probePort = await new Promise<number>((resolve, reject) => {
    const probe = connect({ host: "127.0.0.1", port: server.port, rejectUnauthorized: false });
    probe.once("secureConnect", () => {
      const port = probe.localPort!;
      probe.once("close", () => resolve(port));
      probe.destroy();
    });
    probe.once("error", reject);
  });
  await using bob = await TestClient.connectTls(server.port, [tls.ca.cert]);
  const presence = await alice.next("presence");
  assert.equal(presence.sessionId, bob.welcome.sessionId, "the first arrival alice sees is bob");
  assert.ok(!server.stdout.text.includes(`127.0.0.1:${probePort}`));
});

Deno.test("TLS server - a stalled handshake holds its slot until --frame-timeout cuts it", async () => {
  await using tls = await certificates();
  await using server = await ServerProcess.start([
    ...tls.args,
    "--frame-timeout",
    "1",
    "--max-connections-per-ip",
    "1",
    "--limit-loopback",
  ], LAUNCHER);
  // Connected, and silent: no ClientHello ever.
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    // While it holds the one slot, a real client is refused, and told why.
    await using refused = await TestClient.connectTls(server.port, [tls.ca.cert], false);
    assert.equal((await refused.next("error")).code, ErrorCode.SERVER_FULL);
    // The server gives up on it, really closes its socket (its file descriptor is not kept
    // until the client speaks), and frees its slot.
    await server.stdout.waitFor(
      `TLS handshake failed from 127.0.0.1:${stalled.localAddr.port}: it did not finish ` +
        "within 1 s",
    );
    await deadline(readToEnd(stalled), 10_000, "the server to close the stalled connection");
    await using served = await TestClient.connectTls(server.port, [tls.ca.cert]);
    assert.ok(served.welcome.sessionId > 0n);
  } finally {
    stalled.close();
  }
  assert.ok(!server.stdout.text.includes(`connected 127.0.0.1:${stalled.localAddr.port}`));
});

Deno.test("TLS server - a plain-text client on the TLS port is closed at once, and logged", async () => {
  await using tls = await certificates();
  await using server = await ServerProcess.start(tls.args, LAUNCHER);
  const plain = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    // A Hello frame, as a plain client sends first; well within --frame-timeout (30 s).
    await plain.write(new Uint8Array([4, 0x0a, 2, 0x0a, 0]));
    await deadline(readToEnd(plain), 10_000, "the server to close the plain connection");
  } finally {
    plain.close();
  }
  await server.stdout.waitFor(
    new RegExp(
      `TLS handshake failed from 127\\.0\\.0\\.1:${plain.localAddr.port}: ` +
        "the client is not speaking TLS \\(a plain-text client on the TLS port\\?\\)",
    ),
  );
  assert.ok(!server.stdout.text.includes(" as guest-"), "no session for a failed handshake");
});

Deno.test("TLS server - a burst of failed handshakes makes one log line a second", async () => {
  await using tls = await certificates();
  await using server = await ServerProcess.start(tls.args, LAUNCHER);
  const fail = async () => {
    const plain = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await plain.write(new TextEncoder().encode("hello\n"));
    await deadline(readToEnd(plain), 10_000, "the server to close a plain connection");
    plain.close();
  };
  let failures = 0;
  const summary = server.stdout.waitFor(/more like it since the last line/, 30_000);
  let summarized = false;
  summary.then(() => summarized = true, () => {});
  // Failures until one, a second after the first line, reports those left out meanwhile.
  while (!summarized && failures < 10_000) {
    await fail();
    failures++;
  }
  await summary;
  const lines = server.stdout.lines.filter((line) => line.includes("TLS handshake failed"));
  assert.ok(lines.length < failures, `${lines.length} lines for ${failures} failures`);
  assert.match(lines[1], /\(and \d+ more like it since the last line\)$/);
});

Deno.test("TLS server - a TLS client on the plain port fails its handshake at once, and is logged", async () => {
  const ca = await TestCertificateAuthority.create();
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  for (const [port, suffix] of [[server.port, ""], [httpPort, " (http)"]] as const) {
    const client = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca.cert] });
    try {
      await assert.rejects(deadline(client.handshake(), 10_000, "the handshake to fail"));
    } finally {
      client.close();
    }
    await server.stdout.waitFor(
      `a TLS client on the plain-text port (start the server with --tls-cert, or connect ` +
        `without --tls): 127.0.0.1:${client.localAddr.port}${suffix}`,
    );
  }
});

Deno.test("TLS server - the HTTP port serves HTTPS with the same certificate", async () => {
  await using tls = await certificates();
  const { server, httpPort } = await startWithHttp(tls.args, LAUNCHER);
  await using _server = server;
  assert.ok(server.stdout.text.includes(`open https://127.0.0.1:${httpPort} in a browser`));
  using client = Deno.createHttpClient({ caCerts: [tls.ca.cert] });
  const page = await fetch(`https://127.0.0.1:${httpPort}/`, { client });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  // A plain request on the HTTPS port: its handshake fails, and it is closed.
  const plain = await Deno.connect({ hostname: "127.0.0.1", port: httpPort });
  try {
    await plain.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await deadline(readToEnd(plain), 10_000, "the server to close the plain connection");
  } finally {
    plain.close();
  }
  await server.stdout.waitFor(
    `TLS handshake failed from 127.0.0.1:${plain.localAddr.port} (http): the client is not ` +
      "speaking TLS",
  );
});

Deno.test("TLS server - two servers share a cluster through a Redis spoken to over TLS (rediss://)", async () => {
  const ca = await TestCertificateAuthority.create();
  const dir = await Deno.makeTempDir({ prefix: "tls-redis-" });
  try {
    const pair = writePemPair(dir, await ca.issue());
    const caFile = `${dir}/ca.pem`;
    Deno.writeTextFileSync(caFile, ca.cert);
    await using redis = await RedisProcess.start({ ...pair, ca: caFile });
    assert.match(redis.url, /^rediss:/);
    const launcher = [
      ...[Deno.execPath(), "run", "--allow-net", "--allow-env", "--allow-read"],
      SERVER_SCRIPT,
    ];
    const start = async () => {
      const server = await ServerProcess.start(
        ["--redis", redis.url, "--redis-ca", caFile],
        launcher,
      );
      await server.stdout.waitFor("joined the cluster");
      return server;
    };
    await using one = await start();
    await using two = await start();
    await using alice = await TestClient.connect(one.port);
    await using bob = await TestClient.connect(two.port);
    await alice.send(chat("through rediss"));
    assert.equal((await bob.next("chat")).content, "through rediss");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TLS server - with --workers, every thread serves TLS on the chat and HTTP ports", async () => {
  await using tls = await certificates();
  // Reading anywhere: the certificate files too.
  const launcher = WORKERS_LAUNCHER.map((arg) =>
    arg.startsWith("--allow-read=") ? "--allow-read" : arg
  );
  const { server, httpPort } = await startWithHttp([...tls.args, "--workers", "2"], launcher);
  await using _server = server;
  // Enough connections that the kernel hands some to each thread.
  const clients = await Promise.all(
    Array.from({ length: 8 }, () => TestClient.connectTls(server.port, [tls.ca.cert])),
  );
  try {
    await clients[0].send(chat("to every thread"));
    for (const client of clients) {
      assert.equal((await client.next("chat")).content, "to every thread");
    }
  } finally {
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
  using client = Deno.createHttpClient({ caCerts: [tls.ca.cert] });
  const health = await fetch(`https://127.0.0.1:${httpPort}/healthz`, { client });
  assert.equal(await health.text(), "ok\n");
});
