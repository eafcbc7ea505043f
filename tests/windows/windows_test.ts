/**
 * The programs on the Windows build of Deno (deno.exe under Wine), run from the
 * same bundles that `deno task compile` embeds in server.exe and client.exe.
 * Run with `deno task test:windows`, which builds the bundles first.
 */
import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { bundlePath, PROGRAMS } from "../../scripts/programs.ts";
import { runClient } from "../support/client_process.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestCertificateAuthority } from "../support/test_certificates.ts";
import { TestClient } from "../support/test_client.ts";
import { TlsServer } from "../support/tls_server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WINE_DENO = new URL("../shared/windows/wine-deno.sh", new URL(ROOT, "file:")).pathname;

/** deno.exe running a program's bundle with the permissions compile bakes into the .exe. */
function windows(name: "server" | "client"): string[] {
  const program = PROGRAMS.find((p) => p.name === name)!;
  return [WINE_DENO, "run", ...program.permissions("windows"), `${ROOT}${bundlePath(program)}`];
}

const chat = (content: string, action: Action, clientSeq = 1n) => ({
  body: { case: "chat" as const, value: { content, action, clientSeq } },
});

Deno.test("windows - the Windows server serves Linux clients: echo, broadcast, nicknames, SIGINT stop", async () => {
  const server = await ServerProcess.start([], windows("server"));
  await server.stdout.waitFor(`clients can connect to 127.0.0.1:${server.port}`);
  await server.stdout.waitFor("press Ctrl+C to stop");
  const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.port, true)));
  try {
    const [alice, bob, carol] = clients;
    await alice.send({ body: { case: "hello", value: { nickname: "앨리스" } } });
    assert.equal((await bob.nextPresence(PresenceKind.RENAMED)).nickname, "앨리스");

    await alice.send(chat("just me", Action.ECHO));
    assert.equal((await alice.next("chat")).content, "just me");
    await bob.send(chat("안녕 🎉 everyone", Action.BROADCAST, 2n));
    for (const client of clients) {
      const event = await client.next("chat");
      assert.equal(event.content, "안녕 🎉 everyone");
      assert.equal(event.fromSessionId, bob.sessionId);
    }
    assert.ok(
      !carol.received.some((m) => m.body.case === "chat" && m.body.value.content === "just me"),
    );

    const oneShot = await runClient([
      "--port",
      String(server.port),
      "send",
      "--echo",
      "from linux",
    ]);
    assert.equal(oneShot.stdout, "(echo) from linux\n");
    await server.stdout.waitFor(
      /disconnected 127\.0\.0\.1:\d+ \(tcp\) guest-\d+: closed by client \(sessions 4->3\)/,
    );

    assert.equal((await server.stop("SIGINT", 60_000)).code, 0);
    for (const client of clients) {
      await client.closed;
      const last = client.received.at(-1)!;
      assert.ok(last.body.case === "error" && last.body.value.code === ErrorCode.SHUTTING_DOWN);
    }
    assert.match(server.stdout.text, /shutting down: 3 sessions/);
  } finally {
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
    await server[Symbol.asyncDispose]();
  }
});

Deno.test("windows - the Windows client against a Linux server: one-shot, piped stdin, nicknames", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  const port = String(server.port);

  // An emoji is two UTF-16 units: through a pipe it arrives whole (Wine's console shows it
  // as two U+FFFD, whatever writes it; see the README's Windows section).
  const echo = await runClient(
    ["--port", port, "send", "--echo", "héllo 안녕 🎉"],
    "",
    windows("client"),
  );
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout, "(echo) héllo 안녕 🎉\n");

  const broadcast = await runClient(
    ["--port", port, "--nick", "win", "send", "to all"],
    "",
    windows("client"),
  );
  assert.equal(broadcast.code, 0, broadcast.stderr);
  assert.equal(broadcast.stdout, "(broadcast) win: to all\n");
  const event = await bystander.next("chat");
  assert.equal(event.fromNickname, "win");

  const piped = await runClient(
    ["--port", port, "--nick", "파이프"],
    "one\r\n/echo two\r\n/who\r\n",
    windows("client"),
  );
  assert.equal(piped.code, 0, piped.stderr);
  const lines = piped.stdout.trimEnd().split(/\r?\n/);
  assert.deepEqual(lines.slice(0, 3), [
    "* you are now 파이프",
    "(broadcast) 파이프: one",
    "(echo) two",
  ]);
  assert.match(lines[3], /^\* 2 online: guest-\d+, 파이프 \(you\)$/);
  assert.equal((await bystander.next("chat")).content, "one");
});

Deno.test("windows - started from a script, failures exit at once with a plain message", async () => {
  await using first = await ServerProcess.start();
  const [command, ...args] = windows("server");
  const busy = await new Deno.Command(command, {
    args: [...args, "--host", "127.0.0.1", "--port", String(first.port)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(busy.code, 1);
  assert.equal(
    new TextDecoder().decode(busy.stderr).trim(),
    `Cannot listen on 127.0.0.1:${first.port} (TCP, for chat clients): address already in use. ` +
      "Another server is probably running; pick another port with --port",
  );

  const unreachable = await runClient(
    ["--port", "1", "--retries", "0", "send", "x"],
    "",
    windows("client"),
  );
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /^Cannot connect to 127\.0\.0\.1:1: /m);
  assert.ok(!unreachable.stderr.includes("Press Enter"), "no pause outside a console of its own");
});

Deno.test("windows - the Windows client over TLS to a Linux server: --ca verifies, a line goes both ways", async () => {
  const ca = await TestCertificateAuthority.create();
  await using tls = await TlsServer.start(await ca.issue());
  const caFile = tls.write("ca.pem", ca.cert);
  const run = await runClient(
    ["--port", tls.port, "--ca", caFile, "--nick", "tls-win"],
    "over tls\r\n",
    windows("client"),
  );
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.stdout.trimEnd().split(/\r?\n/), [
    "* you are now tls-win",
    "(broadcast) tls-win: over tls",
  ]);
  await tls.server.stdout.waitFor(
    /disconnected 127\.0\.0\.1:\d+ \(tcp\+tls\) tls-win: closed by client/,
  );
});
