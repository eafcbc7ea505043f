import assert from "node:assert/strict";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { freePort } from "../support/client_process.ts";
import { chat } from "../support/messages.ts";
import { CLIENT_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { TmuxSession } from "../support/tmux.ts";
import { UnadvertisedLimitServer } from "../support/unadvertised_limit_server.ts";
import { selfSignedCertificate } from "../support/test_certificates.ts";
import { TlsServer } from "../support/tls_server.ts";

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
  await terminal.waitForScreen(/^\* reconnected after \d+\.\d s$/m);
  await using bob = await TestClient.connect(second.port);
  await bob.send({ body: { case: "who", value: {} } });
  assert.deepEqual((await bob.next("who")).users.map((u) => u.nickname).sort(), [
    "alice",
    `guest-${bob.sessionId}`,
  ]);
});

Deno.test("terminal - a nickname refused at connect is not asked for again after a reconnect", async () => {
  const port = freePort();
  const first = await ServerProcess.start(["--port", String(port)]);
  const owner = await TestClient.connect(port);
  await owner.send({ body: { case: "hello", value: { nickname: "alice" } } });
  await owner.nextPresence(PresenceKind.RENAMED);
  await using terminal = await TmuxSession.start(client(port, "--nick", "alice"), {
    NO_COLOR: "1",
  });
  await terminal.waitForScreen(/^! Nickname "alice" is already taken$/m);
  await owner[Symbol.asyncDispose]();
  assert.equal((await first.stop("SIGINT")).code, 0);
  await terminal.waitForScreen(/^disconnected: .* - reconnecting in \d+\.\d s$/m);

  // The console is back first, on a new server: the name is free, but it was never its own.
  await using second = await ServerProcess.start(["--port", String(port)]);
  await terminal.waitForScreen(/^\* reconnected after /m);
  await using bob = await TestClient.connect(second.port);
  await bob.send({ body: { case: "who", value: {} } });
  const names = (await bob.next("who")).users.map((u) => u.nickname);
  assert.ok(!names.includes("alice"), names.join(", "));
  assert.doesNotMatch(await terminal.screen(), /you are now alice/);
});

Deno.test("terminal - a nickname from the server reaches the prompt without its escape sequences", async () => {
  await using server = new UnadvertisedLimitServer({
    perSecond: 20,
    burst: 5,
    nickname: "x\x1b]2;PWNED\x07\x1b[41mRED\x1b[0m",
  });
  await using terminal = await TmuxSession.start(client(server.port), { NO_COLOR: "1" });
  await terminal.waitForScreen(/^\[broadcast\] x␛\]2;PWNED␇␛\[41mRED␛\[0m>$/m);
  // With NO_COLOR the client draws no colour: any on the screen would be the server's.
  assert.ok(!(await terminal.screen(true)).includes("\x1b[41m"));
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

const PROMPT = "[broadcast] alice> ";
/** With the prompt, 119 columns: two rows of an 80-column pane. */
const LONG_LINE = Array.from({ length: 100 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(
  "",
);

/** Alice's client in a pane `columns` wide, and bob (a raw client) connected and named. */
async function aliceWithBob(stack: AsyncDisposableStack, port: number, columns: number) {
  const terminal = stack.use(
    await TmuxSession.start(client(port, "--nick", "alice"), { NO_COLOR: "1" }, { columns }),
  );
  await terminal.waitForScreen(/^\[broadcast\] alice>$/m);
  const bob = stack.use(await TestClient.connect(port));
  await bob.send({ body: { case: "hello", value: { nickname: "bob" } } });
  await terminal.waitForScreen(/^\* guest-\d+ is now bob$/m);
  return { terminal, bob };
}

async function broadcast(from: TestClient, content: string, clientSeq: bigint): Promise<void> {
  await from.send(chat(content, Action.BROADCAST, clientSeq));
}

/**
 * Waits for `messages` to be shown, then checks that each is there once, with the
 * prompt and the typed text once, on the last line, below them.
 */
async function assertTypedLineBelow(terminal: TmuxSession, messages: string[], typed: string) {
  const promptLine = PROMPT + typed;
  const lines = await terminal.waitForTranscript((lines) =>
    messages.every((message) => lines.includes(message)) && lines.at(-1) === promptLine
  );
  for (const message of messages) {
    assert.equal(lines.filter((line) => line === message).length, 1, `shown once: ${message}`);
  }
  assert.deepEqual(lines.filter((line) => line.startsWith(PROMPT.trimEnd())), [promptLine]);
  assert.deepEqual(lines.slice(-messages.length - 1), [...messages, promptLine]);
}

async function sentByAlice(bob: TestClient): Promise<string> {
  const message = await bob.nextMatching((m) =>
    m.body.case === "chat" && m.body.value.fromNickname === "alice"
  );
  return message.body.case === "chat" ? message.body.value.content : "";
}

Deno.test("terminal - a typed line wider than the pane stays whole, once, below the messages that arrive", async () => {
  await using server = await ServerProcess.start();
  await using stack = new AsyncDisposableStack();
  const { terminal, bob } = await aliceWithBob(stack, server.port, 80);
  await terminal.type(LONG_LINE);
  await terminal.waitForTranscript((lines) => lines.at(-1) === PROMPT + LONG_LINE);

  const messages = [1, 2, 3].map((n) => `message ${n}`);
  for (const [i, message] of messages.entries()) await broadcast(bob, message, BigInt(i + 1));
  await assertTypedLineBelow(terminal, messages.map((m) => `(broadcast) bob: ${m}`), LONG_LINE);
  await terminal.waitForCursorColumn(19 + 100 - 80);

  await terminal.press("Enter");
  assert.equal(await sentByAlice(bob), LONG_LINE);
});

Deno.test("terminal - wide characters (CJK, emoji) that do not fit at a row's end wrap whole", async () => {
  await using server = await ServerProcess.start();
  await using stack = new AsyncDisposableStack();
  const { terminal, bob } = await aliceWithBob(stack, server.port, 80);
  // The prompt and the a's take 79 columns, so 日 starts the second row; there the
  // CJK and the b's take 79 again, and 🙂 starts the third.
  const typed = `${"a".repeat(60)}日本語${"b".repeat(73)}🙂と絵文字🎉です`;
  await terminal.type(typed);
  await terminal.waitForTranscript((lines) => lines.at(-1) === PROMPT + typed);
  await terminal.waitForCursorColumn(2 + 8 + 2 + 4);

  const messages = ["一つ目 🙂", "second", "third"];
  for (const [i, message] of messages.entries()) await broadcast(bob, message, BigInt(i + 1));
  await assertTypedLineBelow(terminal, messages.map((m) => `(broadcast) bob: ${m}`), typed);
  await terminal.waitForCursorColumn(16);

  await terminal.press("Enter");
  assert.equal(await sentByAlice(bob), typed);
});

Deno.test("terminal - a line of flags and ZWJ emoji stays whole, once, below the messages that arrive", async () => {
  await using server = await ServerProcess.start();
  await using stack = new AsyncDisposableStack();
  const { terminal, bob } = await aliceWithBob(stack, server.port, 80);
  // tmux draws a flag as its two one-column letters and a family as one emoji: the
  // prompt and 30 flags take 79 columns, the 31st flag's letters straddle the row's end,
  // and the families take 20 columns of the second row. (A cell of tmux holds 21 bytes:
  // a family of four would draw as wide, but read back without the last child.)
  const typed = "🇯🇵".repeat(31) + "👨\u200d👩\u200d👧".repeat(10);
  await terminal.type(typed);
  await terminal.waitForTranscript((lines) => lines.at(-1) === PROMPT + typed);

  const messages = ["first", "second", "third"];
  for (const [i, message] of messages.entries()) await broadcast(bob, message, BigInt(i + 1));
  await assertTypedLineBelow(terminal, messages.map((m) => `(broadcast) bob: ${m}`), typed);
  await terminal.waitForCursorColumn(1 + 20);

  await terminal.press("Enter");
  assert.equal(await sentByAlice(bob), typed);
});

Deno.test("terminal - after a resize, a wrapped line is drawn again once, below the next message", async () => {
  await using server = await ServerProcess.start();
  await using stack = new AsyncDisposableStack();
  const { terminal, bob } = await aliceWithBob(stack, server.port, 80);
  await terminal.type(LONG_LINE);
  await terminal.waitForTranscript((lines) => lines.at(-1) === PROMPT + LONG_LINE);

  await terminal.resize(50, 30);
  await broadcast(bob, "after narrowing", 1n);
  await assertTypedLineBelow(terminal, ["(broadcast) bob: after narrowing"], LONG_LINE);
  await terminal.waitForCursorColumn(119 - 2 * 50);

  await terminal.resize(120, 30);
  await broadcast(bob, "after widening", 2n);
  await assertTypedLineBelow(
    terminal,
    ["(broadcast) bob: after narrowing", "(broadcast) bob: after widening"],
    LONG_LINE,
  );
  await terminal.waitForCursorColumn(119);

  await terminal.press("Enter");
  assert.equal(await sentByAlice(bob), LONG_LINE);
});

Deno.test("terminal - a 4,000-character line typed at once arrives whole", async () => {
  await using server = await ServerProcess.start();
  await using stack = new AsyncDisposableStack();
  const { terminal, bob } = await aliceWithBob(stack, server.port, 80);
  const pasted = Array.from({ length: 4000 }, (_, i) => String.fromCharCode(33 + (i % 94))).join(
    "",
  );
  // Keys as a paste without bracketing sends them: one burst, not one read per key.
  await terminal.type(pasted);
  await terminal.press("Enter");
  assert.equal(await sentByAlice(bob), pasted);
  // Printed lines wrap onto rows that begin with a four-space hanging indent; a word longer
  // than a row is cut where the row ends.
  await terminal.waitForTranscript((lines) =>
    lines.join("\n").replaceAll("\n    ", "").split("\n").includes(`(broadcast) alice: ${pasted}`)
  );
});

Deno.test("terminal - a pasted block of lines sends each line, in order", async () => {
  await using server = await ServerProcess.start();
  await using stack = new AsyncDisposableStack();
  const { terminal, bob } = await aliceWithBob(stack, server.port, 80);
  await terminal.paste("first line\nsecond\tline\nthird line\n");
  assert.deepEqual(
    [await sentByAlice(bob), await sentByAlice(bob), await sentByAlice(bob)],
    ["first line", "second\tline", "third line"],
  );
  const lines = await terminal.waitForTranscript((lines) => lines.at(-1) === PROMPT.trimEnd());
  assert.deepEqual(lines.filter((line) => line.startsWith(PROMPT)), [
    `${PROMPT}first line`,
    `${PROMPT}second\u2409line`,
    `${PROMPT}third line`,
  ]);
});

Deno.test("terminal - the lobby's last messages show at connect with their time, dimmed; /join puts the room in the prompt and /part takes it out", async () => {
  await using server = await ServerProcess.start();
  await using bob = await TestClient.connect(server.port);
  await bob.send({ body: { case: "hello", value: { nickname: "bob" } } });
  await bob.nextPresence(PresenceKind.RENAMED);
  await bob.send(chat("said before alice came", Action.BROADCAST, 1n));
  await bob.next("chat");
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "alice"));
  await terminal.waitForScreen(/^\[\d\d:\d\d\] \(broadcast\) bob: said before alice came$/m);
  // Dimmed (SGR 2), as a line from the past.
  const screen = await terminal.screen(true);
  assert.ok(dimAt(screen, "said before alice came"), JSON.stringify(screen));
  await terminal.waitForScreen((s) => /^\[broadcast\] alice>$/.test(promptLine(s)));
  await terminal.type("/join #dev");
  await terminal.press("Enter");
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast #dev] alice>");
  await terminal.type("hello dev");
  await terminal.press("Enter");
  await terminal.waitForScreen(/^\(broadcast\) \[#dev\] alice: hello dev$/m);
  await terminal.type("/part");
  await terminal.press("Enter");
  await terminal.waitForScreen(/^\* left #dev$/m);
  await terminal.waitForScreen((s) => promptLine(s) === "[broadcast] alice>");
});

Deno.test("terminal - /msg sends to one user, who answers privately; each side says who it was with", async () => {
  await using server = await ServerProcess.start();
  await using bob = await TestClient.connect(server.port);
  await bob.send({ body: { case: "hello", value: { nickname: "bob" } } });
  await bob.nextPresence(PresenceKind.RENAMED);
  await using terminal = await TmuxSession.start(client(server.port, "--nick", "alice"));
  await terminal.waitForScreen((s) => /^\[broadcast\] alice>$/.test(promptLine(s)));
  await terminal.type("/msg BOB just between us");
  await terminal.press("Enter");
  await terminal.waitForScreen(/^\(private to bob\) just between us$/m);
  const received = await bob.next("chat");
  assert.deepEqual(
    [received.action, received.fromNickname, received.content],
    [Action.PRIVATE, "alice", "just between us"],
  );
  await bob.send({
    body: {
      case: "chat",
      value: { content: "got it", action: Action.PRIVATE, toNickname: "alice", clientSeq: 1n },
    },
  });
  await terminal.waitForScreen(/^\(private\) bob: got it$/m);
  await terminal.type("/msg nobody hello?");
  await terminal.press("Enter");
  await terminal.waitForScreen(/Nobody called "nobody" is online/);
});

/** Whether the SGR codes of `screen` (as tmux captures them) leave text dim where `text` starts. */
function dimAt(screen: string, text: string): boolean {
  let dim = false;
  for (const part of screen.slice(0, screen.indexOf(text)).split("\x1b[").slice(1)) {
    const end = part.indexOf("m");
    if (end < 0 || !/^[\d;]*$/.test(part.slice(0, end))) continue;
    for (const code of part.slice(0, end).split(";")) {
      if (code === "" || code === "0" || code === "22") dim = false;
      else if (code === "2") dim = true;
    }
  }
  return dim;
}

Deno.test("terminal - a line too long to send is named by its words, not by a line number the user never saw", async () => {
  await using server = await ServerProcess.start(["--max-content-bytes", "5"]);
  await using terminal = await TmuxSession.start(client(server.port, "--echo"), {
    NO_COLOR: "1",
  });
  await terminal.waitForScreen(/^\[echo\] guest-\d+>$/m);
  await terminal.type("short");
  await terminal.press("Enter");
  await terminal.waitForScreen(/^\(echo\) short$/m);
  await terminal.type("too long a line");
  await terminal.press("Enter");
  await terminal.waitForScreen(
    /^! the line \("too long a line"\) was not sent: it is 15 bytes long; the limit is 5$/m,
  );
});

Deno.test("terminal - the first-use fingerprint message wraps only at spaces, and its option stays one line to copy", async () => {
  const pair = await selfSignedCertificate();
  await using tls = await TlsServer.start(pair);
  await using terminal = await TmuxSession.start(
    [...client(Number(tls.port), "--tls").toSpliced(2, 0, "--allow-env=DENO_TLS_CA_STORE")],
    { NO_COLOR: "1" },
    { columns: 100 },
  );
  assert.equal(await terminal.exitStatus(), 1);
  const screen = await terminal.screen();
  const rows = screen.slice(screen.indexOf("Cannot verify"), screen.indexOf("--fingerprint"))
    .trimEnd().split("\n");
  for (const row of rows.slice(1)) assert.match(row, /^ {4}\S/);
  // Rows joined again at a space give the sentence: no word was cut.
  assert.equal(
    rows.map((row) => row.trim()).join(" "),
    `Cannot verify 127.0.0.1:${tls.port}: its certificate is self-signed. Its SHA-256 ` +
      "fingerprint is in the line below: if it is the one the server printed at start, connect " +
      "with that option",
  );
  // Copied from the terminal, the option is one line, without an indent inside.
  assert.ok(
    (await terminal.transcript()).includes(`--fingerprint ${pair.fingerprint}`),
    screen,
  );
});
