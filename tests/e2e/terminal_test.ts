import assert from "node:assert/strict";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { freePort } from "../support/client_process.ts";
import { CLIENT_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { TmuxSession } from "../support/tmux.ts";

const client = (port: number, ...args: string[]) => [
  Deno.execPath(),
  "run",
  "--allow-net",
  CLIENT_SCRIPT,
  "--port",
  String(port),
  ...args,
];

/** The screen's last non-empty line: where the prompt is. */
const promptLine = (screen: string) => screen.trimEnd().split("\n").at(-1)!.trimEnd();

Deno.test("terminal - an event arriving while a line is half typed prints above it, the line intact", async () => {
  await using server = await ServerProcess.start();
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "alice"), {
    NO_COLOR: "1",
  });
  await terminal.waitForScreen(/^\[broadcast\] alice>$/m);
  await using bob = await TestClient.connect(server.port);
  await bob.send({ body: { case: "hello", value: { nickname: "bob" } } });
  await terminal.waitForScreen(/^\* guest-\d+ is now bob$/m);

  await terminal.type("hello wo");
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] alice> hello wo");
  await bob.send({
    body: {
      case: "chat",
      value: { content: "interrupting", action: Action.BROADCAST, clientSeq: 1n },
    },
  });
  // The event line appears first, then the prompt is redrawn below it with the typed text.
  const screen = await terminal.waitForScreen((s) =>
    /^\(broadcast\) bob: interrupting$/m.test(s) && promptLine(s) === "[broadcast] alice> hello wo"
  );
  const lines = screen.trimEnd().split("\n").map((line) => line.trimEnd());
  assert.deepEqual(lines.slice(-2), [
    "(broadcast) bob: interrupting",
    "[broadcast] alice> hello wo",
  ]);

  await terminal.type("rld");
  await terminal.press("Enter");
  const sent = await bob.nextMatching((m) =>
    m.body.case === "chat" && m.body.value.fromNickname === "alice"
  );
  assert.equal(sent.body.case === "chat" && sent.body.value.content, "hello world");
  await terminal.waitForScreen(/^\(broadcast\) alice: hello world$/m);

  await terminal.type("/echo");
  await terminal.press("Enter");
  await terminal.waitForScreen((s) => promptLine(s) === "[echo] alice>");
  await terminal.type("secret");
  await terminal.press("Enter");
  await terminal.waitForScreen(/^\(echo\) secret$/m);

  await terminal.type("/quit");
  await terminal.press("Enter");
  assert.equal(await terminal.exitStatus(), 0);
  await bob.nextPresence(PresenceKind.LEFT);
  assert.ok(!bob.received.some((m) => m.body.case === "chat" && m.body.value.content === "secret"));
});

Deno.test("terminal - colour on a terminal, none with NO_COLOR; Ctrl+C leaves", async () => {
  await using server = await ServerProcess.start();
  await using coloured = await TmuxSession.start(client(server.port));
  await coloured.waitForScreen(/connected as guest-\d+/);
  assert.ok((await coloured.screen(true)).includes("\x1b["));
  await coloured.press("C-c");
  assert.equal(await coloured.exitStatus(), 0);

  await using plain = await TmuxSession.start(client(server.port), { NO_COLOR: "1" });
  await plain.waitForScreen(/connected as guest-\d+/);
  assert.ok(!(await plain.screen(true)).includes("\x1b["));
  await plain.press("C-d");
  assert.equal(await plain.exitStatus(), 0);
});

Deno.test("terminal - reconnects after the server restarts and takes its nickname back", async () => {
  const port = freePort();
  const first = await ServerProcess.start(["--port", String(port)]);
  await using terminal = await TmuxSession.start(client(port, "--nick", "alice"), {
    NO_COLOR: "1",
  });
  await terminal.waitForScreen(/^\* you are now alice$/m);
  assert.equal((await first.stop("SIGINT")).code, 0);
  await terminal.waitForScreen(/^! The server is shutting down$/m);
  await terminal.waitForScreen(
    /^disconnected: the server closed the connection - reconnecting in \d+\.\d s$/m,
  );

  await using second = await ServerProcess.start(["--port", String(port)]);
  await terminal.waitForScreen((s) => s.split("* you are now alice").length === 3);
  await terminal.waitForScreen(
    /^\* reconnected after \d+\.\d s; messages sent meanwhile are not shown$/m,
  );
  await using bob = await TestClient.connect(second.port);
  await bob.send({ body: { case: "who", value: {} } });
  assert.deepEqual((await bob.next("who")).users.map((u) => u.nickname).sort(), [
    "alice",
    `guest-${bob.sessionId}`,
  ]);
});

Deno.test("terminal - the unknown-command and help texts are shown", async () => {
  await using server = await ServerProcess.start();
  await using terminal = await TmuxSession.start(client(server.port), { NO_COLOR: "1" });
  await terminal.waitForScreen(/^\[broadcast\] guest-\d+>$/m);
  await terminal.type("/frobnicate");
  await terminal.press("Enter");
  await terminal.waitForScreen(/^! Unknown command \/frobnicate - type \/help for the list$/m);
  await terminal.type("/help");
  await terminal.press("Enter");
  await terminal.waitForScreen(/\/nick NAME\s+change your nickname/);
});
