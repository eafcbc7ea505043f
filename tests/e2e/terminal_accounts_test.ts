/**
 * The console's account commands and its password prompt, in a real pseudo-terminal,
 * against a scripted server: what the screen shows, and what the server is sent.
 */
import assert from "node:assert/strict";
import { AccountChange, ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { errorMessage } from "../../lib/protocol/error_message.ts";
import { ScriptedServer } from "../support/scripted_server.ts";
import { accountChanged, renamed, scriptedWelcome } from "../support/scripted_welcome.ts";
import { CLIENT_SCRIPT } from "../support/server_process.ts";
import { TmuxSession } from "../support/tmux.ts";

const client = (port: number, ...args: string[]) => [
  Deno.execPath(),
  "run",
  "--allow-net",
  "--allow-read",
  CLIENT_SCRIPT,
  "--port",
  String(port),
  ...args,
];

/** The screen's last non-empty line: where the prompt is. */
const promptLine = (screen: string) => screen.trimEnd().split("\n").at(-1)!.trimEnd();

Deno.test("terminal accounts - /register shows its password masked, and Up does not bring it back", async () => {
  await using server = new ScriptedServer();
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "alice"), {
    NO_COLOR: "1",
  });
  const connection = await server.accept();
  await connection.send(scriptedWelcome(1n, { passwordsAccepted: true }));
  assert.equal((await connection.next("hello")).password, "");
  await connection.send(renamed(1n, "alice"));
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] alice>");

  await terminal.type("/who");
  await terminal.press("Enter");
  await connection.next("who");
  await terminal.type("/register secret123");
  await terminal.press("Enter");
  assert.equal((await connection.next("register")).password, "secret123");
  await connection.send(accountChanged(AccountChange.REGISTERED, "alice"));
  await terminal.waitForScreen(
    /^\* alice is registered; use --password-file or \/identify to take it next time$/m,
  );
  await terminal.waitForScreen(/^\[broadcast\] alice> \/register \*{8}$/m);

  // Up finds the line before, never the password.
  await terminal.press("Up");
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] alice> /who");
  await terminal.press("Up");
  await terminal.press("C-u");
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] alice>");
  const transcript = (await terminal.transcript()).join("\n");
  assert.ok(!transcript.includes("secret123"), transcript);
});

Deno.test("terminal accounts - a registered --nick is asked for its password without echo, which the Hello then carries", async () => {
  await using server = new ScriptedServer();
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "alice"), {
    NO_COLOR: "1",
  });
  const connection = await server.accept();
  await connection.send(scriptedWelcome(1n, { passwordsAccepted: true }));
  await connection.next("hello");
  await connection.send(
    errorMessage(ErrorCode.NICKNAME_REGISTERED, 'Nickname "alice" is registered'),
  );
  await terminal.waitForScreen((s) => promptLine(s) === "Password for alice:");

  await terminal.type("hunter2pw");
  // Typed, and still nothing shows: the prompt line is as it was.
  await terminal.type("!");
  await terminal.waitForCursorColumn("Password for alice: ".length);
  assert.equal(promptLine(await terminal.screen()), "Password for alice:");
  await terminal.press("Enter");
  const hello = await connection.next("hello");
  assert.deepEqual([hello.nickname, hello.password], ["alice", "hunter2pw!"]);
  await connection.send(renamed(1n, "alice"), accountChanged(AccountChange.IDENTIFIED, "alice"));
  await terminal.waitForScreen(/^\* you are identified as alice$/m);
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] alice>");
  const transcript = (await terminal.transcript()).join("\n");
  assert.ok(!transcript.includes("hunter2pw"), transcript);
});

Deno.test("terminal accounts - Ctrl+C at the password prompt gives up on the name, not the chat", async () => {
  await using server = new ScriptedServer();
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "alice"), {
    NO_COLOR: "1",
  });
  const connection = await server.accept();
  await connection.send(scriptedWelcome(1n, { passwordsAccepted: true }));
  await connection.next("hello");
  await connection.send(
    errorMessage(ErrorCode.NICKNAME_REGISTERED, 'Nickname "alice" is registered'),
  );
  await terminal.waitForScreen((s) => promptLine(s) === "Password for alice:");
  await terminal.type("half");
  await terminal.press("C-c");
  await terminal.waitForScreen(/^\* not identified - \/identify PASSWORD takes alice later$/m);
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] guest-1>");

  // /identify with the password alone takes the name that was refused.
  await terminal.type("/identify hunter2pw");
  await terminal.press("Enter");
  const hello = await connection.next("hello");
  assert.deepEqual([hello.nickname, hello.password], ["alice", "hunter2pw"]);
  await terminal.waitForScreen(/^\[broadcast\] guest-1> \/identify \*{8}$/m);
  await connection.send(renamed(1n, "alice"), accountChanged(AccountChange.IDENTIFIED, "alice"));
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] alice>");
  await terminal.press("C-d");
  assert.equal(await terminal.exitStatus(), 0);
});

Deno.test("terminal accounts - on a connection that is not encrypted, no password is asked for or sent, and the console says why", async () => {
  await using server = new ScriptedServer();
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "alice"), {
    NO_COLOR: "1",
  });
  const connection = await server.accept();
  await connection.send(scriptedWelcome(1n, { passwordsAccepted: false }));
  await connection.next("hello");
  await connection.send(
    errorMessage(ErrorCode.NICKNAME_REGISTERED, 'Nickname "alice" is registered'),
  );
  await terminal.waitForScreen(/^! Nickname "alice" is registered - if it is yours/m);
  await terminal.type("/register secret123");
  await terminal.press("Enter");
  await terminal.waitForScreen(
    /^! Not sending your password: the connection to 127\.0\.0\.1:\d+ is not encrypted\. Connect with --tls/m,
  );
  assert.doesNotMatch(await terminal.screen(), /Password for/);
  await terminal.type("/ping");
  await terminal.press("Enter");
  await connection.next("ping");
  assert.ok(
    !connection.received.some((m) =>
      m.body.case === "register" || (m.body.case === "hello" && m.body.value.password !== "")
    ),
  );
});

Deno.test("terminal accounts - on a server for registered users only, a --nick without a password is asked for it before the Hello, which then carries it", async () => {
  await using server = new ScriptedServer();
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "erin"), {
    NO_COLOR: "1",
  });
  const connection = await server.accept();
  await connection.send(scriptedWelcome(1n, { passwordsAccepted: true, accountRequired: true }));
  await terminal.waitForScreen((s) => promptLine(s) === "Password for erin:");
  await terminal.type("hunter2pw");
  await terminal.press("Enter");
  // The Hello is the first request: anything before it would end the session.
  const hello = await connection.next("hello");
  assert.deepEqual([hello.nickname, hello.password], ["erin", "hunter2pw"]);
  assert.deepEqual(connection.received.map((m) => m.body.case).filter((c) => c !== "ping"), [
    "hello",
  ]);
  await connection.send(renamed(1n, "erin"), accountChanged(AccountChange.IDENTIFIED, "erin"));
  // Joined only once identified.
  assert.equal((await connection.next("join")).room, "#lobby");
  await terminal.waitForScreen(/^\* you are identified as erin$/m);
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] erin>");
  const screen = await terminal.screen();
  assert.doesNotMatch(screen, /guest-1|hunter2pw/);
});

Deno.test("terminal accounts - on a server for registered users only, without --nick the nickname is asked first, then the password; a wrong one is asked again", async () => {
  await using server = new ScriptedServer();
  await using terminal = await TmuxSession.start(client(server.port), { NO_COLOR: "1" });
  const connection = await server.accept();
  await connection.send(scriptedWelcome(1n, { passwordsAccepted: true, accountRequired: true }));
  await terminal.waitForScreen((s) => promptLine(s) === "Nickname:");
  await terminal.type("erin");
  // The nickname shows as it is typed, unlike the password.
  await terminal.waitForScreen((s) => promptLine(s) === "Nickname: erin");
  await terminal.press("Enter");
  await terminal.waitForScreen((s) => promptLine(s) === "Password for erin:");
  await terminal.type("wrong0pass");
  await terminal.press("Enter");
  const first = await connection.next("hello");
  assert.deepEqual([first.nickname, first.password], ["erin", "wrong0pass"]);
  await connection.send(errorMessage(ErrorCode.AUTH_FAILED, 'Wrong password for "erin"'));
  await terminal.waitForScreen(/^! Wrong password for "erin" - check the password$/m);
  await terminal.waitForScreen((s) => promptLine(s) === "Password for erin:");
  await terminal.type("right0pass");
  await terminal.press("Enter");
  const second = await connection.next("hello");
  assert.deepEqual([second.nickname, second.password], ["erin", "right0pass"]);
  await connection.send(renamed(1n, "erin"), accountChanged(AccountChange.IDENTIFIED, "erin"));
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] erin>");
  assert.equal((await connection.next("join")).room, "#lobby");
});
