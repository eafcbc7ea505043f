/** --password-file, in piped mode, against a scripted server. */
import assert from "node:assert/strict";
import { AccountChange } from "../../gen/chat/v1/chat_pb.ts";
import { runClient } from "../support/client_process.ts";
import { ScriptedServer } from "../support/scripted_server.ts";
import { accountChanged, renamed, scriptedWelcome } from "../support/scripted_welcome.ts";
import { CLIENT_SCRIPT } from "../support/server_process.ts";

const LAUNCHER = [Deno.execPath(), "run", "--allow-net", "--allow-read", CLIENT_SCRIPT];

async function passwordFile(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "chat-password-" });
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test("client accounts - --password-file: its first line goes in the Hello, and the password is never printed", async () => {
  await using server = new ScriptedServer();
  const path = await passwordFile("secret123\nnot this line\n");
  try {
    const run = runClient(
      ["--port", String(server.port), "--nick", "alice", "--password-file", path],
      "",
      LAUNCHER,
    );
    const connection = await server.accept();
    await connection.send(scriptedWelcome(1n, { passwordsAccepted: true }));
    const hello = await connection.next("hello");
    assert.deepEqual([hello.nickname, hello.password], ["alice", "secret123"]);
    await connection.send(renamed(1n, "alice"), accountChanged(AccountChange.IDENTIFIED, "alice"));
    const { code, stdout, stderr } = await run;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^\* you are identified as alice$/m);
    assert.ok(!`${stdout}${stderr}`.includes("secret123"));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("client accounts - --password-file on a connection that is not encrypted: the Hello goes without it, and stderr says why", async () => {
  await using server = new ScriptedServer();
  const path = await passwordFile("secret123\n");
  try {
    const run = runClient(
      ["--port", String(server.port), "--nick", "alice", "--password-file", path],
      "",
      LAUNCHER,
    );
    const connection = await server.accept();
    await connection.send(scriptedWelcome(1n, { passwordsAccepted: false }));
    const hello = await connection.next("hello");
    assert.deepEqual([hello.nickname, hello.password], ["alice", ""]);
    await connection.send(renamed(1n, "alice"));
    const { code, stderr } = await run;
    assert.equal(code, 0, stderr);
    assert.match(
      stderr,
      /^! Not sending your password: the connection to 127\.0\.0\.1:\d+ is not encrypted\. Connect with --tls \(the server needs --tls-cert\), or the server must allow it with --allow-plaintext-passwords\.$/m,
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("client accounts - a password file that cannot be read, or --password-file without --nick, is one line and exit 2", async () => {
  const missing = await runClient(
    ["--nick", "alice", "--password-file", "/nonexistent/password"],
    "",
    LAUNCHER,
  );
  assert.equal(missing.code, 2);
  assert.equal(
    missing.stderr,
    "Cannot read the password file /nonexistent/password: no such file\n",
  );
  const empty = await passwordFile("\nsecond\n");
  try {
    const run = await runClient(["--nick", "alice", "--password-file", empty], "", LAUNCHER);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /^The password file .* is empty: its first line should hold the password\n$/,
    );
  } finally {
    await Deno.remove(empty);
  }
  const noNick = await runClient(["--password-file", "/etc/hostname"], "", LAUNCHER);
  assert.equal(noNick.code, 2);
  assert.match(noNick.stderr, /--password-file needs --nick/);
});

Deno.test("client accounts - piped, on a server for registered users only and without a password: one line naming the flags, exit 1, nothing sent, no retry", async () => {
  await using server = new ScriptedServer();
  const run = runClient(["--port", String(server.port), "--nick", "erin"], "hello\n", LAUNCHER);
  const connection = await server.accept();
  await connection.send(scriptedWelcome(1n, { passwordsAccepted: true, accountRequired: true }));
  const { code, stdout, stderr } = await run;
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.deepEqual(stderr.trimEnd().split("\n").slice(1), [
    `Cannot connect to 127.0.0.1:${server.port}: this server admits registered users only: connect with --nick NAME --password-file FILE`,
  ]);
  assert.ok(!connection.received.some((m) => m.body.case !== "ping"), "nothing but the ping");
});
