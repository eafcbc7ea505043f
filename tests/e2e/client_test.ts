import assert from "node:assert/strict";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { ChatClient, type ClientEvent } from "../../lib/client/chat_client.ts";
import type { ClientMessageInit } from "../../lib/protocol/codec.ts";
import { freePort, runClient } from "../support/client_process.ts";
import { deadline } from "../support/deadline.ts";
import { LineReader } from "../support/line_reader.ts";
import { CLIENT_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { TmuxSession } from "../support/tmux.ts";
import { UnadvertisedLimitServer } from "../support/unadvertised_limit_server.ts";

/** `count` numbered lines, and the same as standard input. */
const numberedLines = (count: number, prefix = "") => {
  const lines = Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
  return { lines, input: lines.map((line) => `${line}\n`).join("") };
};

Deno.test("client - send --echo prints the echo and exits 0", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  const run = await runClient(["--port", String(server.port), "send", "--echo", "hello", "there"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "(echo) hello there\n");
  // The bystander saw the join and the leave, never the echo.
  await bystander.nextPresence(PresenceKind.LEFT);
  assert.ok(!bystander.received.some((m) => m.body.case === "chat"));
});

Deno.test("client - send --broadcast reaches the others and prints the sender's copy", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  const run = await runClient([
    "--port",
    String(server.port),
    "--nick",
    "alice",
    "--broadcast",
    "send",
    "안녕 🎉",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "(broadcast) alice: 안녕 🎉\n");
  const event = await bystander.next("chat");
  assert.equal(event.content, "안녕 🎉");
  assert.equal(event.fromNickname, "alice");
  assert.equal(event.action, Action.BROADCAST);
});

Deno.test("client - piped stdin: each line sent, events on stdout, exit 0 after the last reply", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  await bystander.send({ body: { case: "hello", value: { nickname: "zoe" } } });
  await bystander.nextPresence(PresenceKind.RENAMED);
  const input = [
    "first line",
    "/echo just me",
    "/nick bob",
    "second line",
    "/who",
    "/ping",
    "//slash",
  ].join("\n");
  const run = await runClient(["--port", String(server.port)], input + "\n");
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 4), [
    /^\(broadcast\) guest-\d+: first line$/.exec(lines[0])?.[0],
    "(echo) just me",
    "* you are now bob",
    "(broadcast) bob: second line",
  ]);
  assert.match(lines[4], /^\* 2 online: zoe, bob \(you\)$/);
  assert.match(lines[5], /^\* pong in \d+\.\d ms$/);
  assert.equal(lines[6], "(broadcast) bob: /slash");
  assert.match(run.stderr, /^connected as guest-\d+ - 2 online$/m);
  const seen = await bystander.take("chat", 3);
  assert.deepEqual(seen.map((e) => e.content), ["first line", "second line", "/slash"]);
});

Deno.test("client - a line over the server's limit is not sent, is named, and makes the exit code 1", async () => {
  await using server = await ServerProcess.start(["--max-content-bytes", "5"]);
  const run = await runClient(
    ["--port", String(server.port), "--echo"],
    "short\ntoo long a line\nfine\n",
  );
  assert.equal(run.code, 1);
  assert.equal(
    run.stdout,
    "(echo) short\n" +
      '! line 2 ("too long a line") was not sent: it is 15 bytes long; the limit is 5\n' +
      "(echo) fine\n",
  );
});

Deno.test("client - an unreachable server is named, retried with backoff, then exit 1", async () => {
  const port = freePort();
  const run = await runClient(["--port", String(port), "--retries", "2", "send", "x"]);
  assert.equal(run.code, 1);
  const refused =
    `Cannot connect to 127.0.0.1:${port}: connection refused - is the server running?`;
  assert.equal(run.stderr.split("\n").filter((line) => line === refused).length, 3);
  assert.equal(
    run.stderr.split("\n").filter((line) => /^retrying in \d+\.\d s$/.test(line)).length,
    2,
  );
  assert.ok(!run.stderr.includes("    at "), "no stack trace");
});

Deno.test("client - a fatal error from the server is shown with its message", async () => {
  await using server = await ServerProcess.start(["--max-connections", "1"]);
  await using _first = await TestClient.connect(server.port);
  const run = await runClient(["--port", String(server.port), "--retries", "0", "send", "x"]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /^! The server is full \(1 connection\); try again later$/m);
  assert.match(run.stderr, /^Cannot connect to [\d.:]+: the server closed the connection$/m);
});

Deno.test("client - bad options are one line and exit code 2", async () => {
  for (const args of [["--port", "x"], ["--echo", "--broadcast"], ["send"], ["--retries", "-1"]]) {
    const run = await runClient(args);
    assert.equal(run.code, 2, `for ${args.join(" ")}: ${run.stderr}`);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  }
});

Deno.test("client - SHUTTING_DOWN from the server is shown to a piped client", async () => {
  const server = await ServerProcess.start();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("../../client.ts", import.meta.url).pathname,
      "--port",
      String(server.port),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Stdin stays open, so the client waits; the server's stop is what ends it.
  await server.stdout.waitFor("(sessions 0->1)");
  assert.equal((await server.stop("SIGINT")).code, 0);
  const output = await child.output();
  assert.equal(output.code, 1);
  assert.match(new TextDecoder().decode(output.stdout), /^! The server is shutting down$/m);
});

Deno.test("client - another user's control characters cannot forge lines or reach the terminal", async () => {
  await using server = await ServerProcess.start();
  await using mallory = await TestClient.connect(server.port);
  await mallory.send({ body: { case: "hello", value: { nickname: "mallory" } } });
  await mallory.nextPresence(PresenceKind.RENAMED);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", CLIENT_SCRIPT, "--port", String(server.port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await mallory.nextPresence(PresenceKind.JOINED);
  await mallory.send({
    body: {
      case: "chat",
      value: {
        content: "hi\n(broadcast) admin: run this\x1b]0;pwned\x07",
        action: Action.BROADCAST,
        clientSeq: 1n,
      },
    },
  });
  await mallory.next("chat");
  const stdout = new LineReader(child.stdout);
  const line = await stdout.waitFor("(broadcast) mallory: ");
  await child.stdin.close();
  assert.equal((await child.status).code, 0);
  await stdout.done;
  await child.stderr.cancel();
  assert.equal(stdout.lines.length, 1);
  assert.equal(
    line + "\n",
    "(broadcast) mallory: hi\u240a(broadcast) admin: run this\u241b]0;pwned\u2407\n",
  );
});

Deno.test("client - a refused --nick sends nothing, one-shot or piped, and exits 1", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  await alice.send({ body: { case: "hello", value: { nickname: "alice" } } });
  await alice.nextPresence(PresenceKind.RENAMED);
  for (const [args, input] of [[["send", "hi"], ""], [[], "hi\nthere\n"]] as const) {
    const run = await runClient(["--port", String(server.port), "--nick", "ALICE", ...args], input);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '! Nickname "ALICE" is already taken\n');
    // The server handles what a client sent before it announces the client's leaving.
    await alice.nextPresence(PresenceKind.LEFT);
  }
  assert.ok(!alice.received.some((m) => m.body.case === "chat"), "no chat reached alice");
});

Deno.test("client - /nick after --nick gets its own answer", async () => {
  await using server = await ServerProcess.start();
  const run = await runClient(["--port", String(server.port), "--nick", "alice0"], "/nick bob0\n");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "* you are now alice0\n* you are now bob0\n");
});

Deno.test("client - a listener that never sends Welcome is given up on after --timeout", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) accepted.push(conn);
  })();
  const run = await runClient([
    "--port",
    String(silent.addr.port),
    "--retries",
    "0",
    "--timeout",
    "0.5",
    "send",
    "x",
  ]);
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    new RegExp(
      `^Cannot connect to 127\\.0\\.0\\.1:${silent.addr.port}: no Welcome within 0\\.5 s - is it the chat port \\(not the HTTP port for browsers\\)\\?$`,
      "m",
    ),
  );
  for (const conn of accepted) conn.close();
  silent.close();
  await accepting.catch(() => {});
});

Deno.test("client - an 80-line pipe under the default rate limit is delivered whole, in order", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  const { lines, input } = numberedLines(80);
  const run = await runClient(["--port", String(server.port)], input);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.deepEqual((await bystander.take("chat", 80)).map((e) => e.content), lines);
  assert.deepEqual(run.stdout.trimEnd().split("\n").map((line) => line.split(": ")[1]), lines);
});

Deno.test("client - under a low rate limit, piped lines are paced to it, not refused, nor timed out", async () => {
  await using server = await ServerProcess.start(["--rate-limit", "2", "--rate-burst", "1"]);
  await using bystander = await TestClient.connect(server.port);
  const { lines, input } = numberedLines(6);
  // Six lines take nearly 3 s at this rate: --timeout is for replies, not for the wait to send.
  const run = await runClient(["--port", String(server.port), "--timeout", "1.5"], input);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.deepEqual((await bystander.take("chat", 6)).map((e) => e.content), lines);
  assert.ok(!run.stdout.includes("!"), run.stdout);
});

Deno.test("client - a server that does not advertise its limit: refused lines go again, in order", async () => {
  await using server = new UnadvertisedLimitServer({ perSecond: 20, burst: 5 });
  const { lines, input } = numberedLines(15);
  const run = await runClient(["--port", String(server.port)], input);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.ok(server.refused > 0, "the server refused some lines");
  assert.deepEqual(server.accepted, lines);
  assert.deepEqual(run.stdout.trimEnd().split("\n").map((line) => line.split(": ")[1]), lines);
});

Deno.test("client - a line the server keeps refusing is named, and the others still go", async () => {
  await using server = new UnadvertisedLimitServer({
    perSecond: 100,
    burst: 100,
    alwaysRefused: "never",
  });
  const run = await runClient(["--port", String(server.port)], "one\nnever\nthree\n");
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stdout, /^! line 2 \("never"\) was refused: Too fast$/m);
  assert.deepEqual(server.accepted, ["one", "three"]);
  assert.equal(server.refused, 6, "sent once and again 5 times");
});

Deno.test("client - a request sent without a reply within --timeout fails the run", async () => {
  await using server = new UnadvertisedLimitServer({ perSecond: 1, burst: 1, silent: true });
  const run = await runClient(["--port", String(server.port), "--timeout", "0.5"], "hi\n");
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /^! no reply from the server within 0\.5 s$/m);
});

Deno.test("client - exit codes and messages, from the command line to the last reply", async () => {
  await using server = await ServerProcess.start();
  const port = String(server.port);
  const closed = String(freePort());
  const unknown = "! Unknown command /frob - type /help for the list";
  const cases: {
    args: string[];
    input?: string;
    /** How the client is started, when not with --allow-net. */
    launcher?: string[];
    code: number;
    /** Exactly this, or matching this. */
    stdout?: string | RegExp;
    stderr?: string | RegExp;
  }[] = [
    { args: ["--port", port, "send", "hi"], code: 0, stdout: /^\(broadcast\) guest-\d+: hi\n$/ },
    {
      // As `deno task client -- --port N send hi` passes it on.
      args: ["--", "--port", port, "send", "hi"],
      code: 0,
      stdout: /^\(broadcast\) guest-\d+: hi\n$/,
    },
    {
      args: ["--port", port, "send", "/frob"],
      code: 1,
      stdout: `${unknown}\n`,
    },
    {
      args: ["--port", port, "send", ""],
      code: 2,
      stderr: "error: the message to send is empty\n",
    },
    {
      args: ["--port", "0", "send", "hi"],
      code: 2,
      stderr: /^error: .*argument '0' is invalid\. Expected a port number from 1 to 65535\.\n$/,
    },
    {
      args: ["--port", "abc", "send", "hi"],
      code: 2,
      stderr: /^error: .*argument 'abc' is invalid/,
    },
    {
      // An unknown command's error comes in its turn: after the replies to the lines before it.
      args: ["--port", port, "--echo"],
      input: "one\ntwo\n/frob\nthree\n",
      code: 1,
      stdout: `(echo) one\n(echo) two\n${unknown}\n(echo) three\n`,
    },
    {
      args: ["--port", closed, "--retries", "0", "send", "hi"],
      code: 1,
      stderr:
        `Cannot connect to 127.0.0.1:${closed}: connection refused - is the server running?\n`,
    },
    {
      // Without network permission no retry can succeed: one line, no retries, no prompt.
      args: ["--port", port, "send", "hi"],
      launcher: [Deno.execPath(), "run", "--no-prompt", CLIENT_SCRIPT],
      code: 1,
      stderr: new RegExp(
        `^Cannot connect to 127\\.0\\.0\\.1:${port}: requires net access to "127\\.0\\.0\\.1:${port}".*\n$`,
      ),
    },
  ];
  for (const { args, input, launcher, code, stdout, stderr } of cases) {
    const run = await runClient(args, input, launcher);
    const what = `client ${args.join(" ")}: ${JSON.stringify(run)}`;
    assert.equal(run.code, code, what);
    for (const [actual, expected] of [[run.stdout, stdout], [run.stderr, stderr]] as const) {
      if (typeof expected === "string") assert.equal(actual, expected, what);
      else if (expected !== undefined) assert.match(actual, expected, what);
    }
    assert.doesNotMatch(run.stdout + run.stderr, /os error|\n\s+at /, what);
  }
});

Deno.test("client - with no arguments on a console, a bare number at the address prompt is a port on 127.0.0.1", async () => {
  await using server = await ServerProcess.start();
  await using terminal = await TmuxSession.start(
    [Deno.execPath(), "run", "--allow-net", CLIENT_SCRIPT],
    { NO_COLOR: "1" },
  );
  await terminal.waitForScreen(/^Server address \(Enter for 127\.0\.0\.1:8080\):$/m);
  await terminal.type(String(server.port));
  await terminal.press("Enter");
  await terminal.waitForScreen(/^Nickname \(Enter for a guest name\):$/m);
  await terminal.press("Enter");
  await terminal.waitForScreen(
    new RegExp(`^connecting to 127\\.0\\.0\\.1:${server.port} \\.\\.\\.$`, "m"),
  );
  await terminal.waitForScreen(/^connected as guest-\d+ - 1 online$/m);
  await terminal.type("/quit");
  await terminal.press("Enter");
  assert.equal(await terminal.exitStatus(), 0);
});

Deno.test("client - Ctrl+C or Ctrl+D at the address and nickname prompts leaves quietly", async () => {
  const cases: [string[], string][] = [[[], "C-c"], [[], "C-d"], [["29999"], "C-c"], [
    ["29999"],
    "C-d",
  ]];
  for (const [answers, key] of cases) {
    await using terminal = await TmuxSession.start(
      [Deno.execPath(), "run", "--allow-net", CLIENT_SCRIPT],
      { NO_COLOR: "1" },
    );
    await terminal.waitForScreen(/^Server address \(Enter for 127\.0\.0\.1:8080\):$/m);
    for (const answer of answers) {
      await terminal.type(answer);
      await terminal.press("Enter");
      await terminal.waitForScreen(/^Nickname \(Enter for a guest name\):$/m);
    }
    await terminal.press(key);
    const what = `${key} after ${answers.length} answer(s)`;
    assert.equal(await terminal.exitStatus(), 0, what);
    assert.doesNotMatch(await terminal.screen(), /error|connecting/i, what);
  }
});

Deno.test("client - 60 lines pasted into the console all reach the others, in order", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  await using terminal = await TmuxSession.start(
    [Deno.execPath(), "run", "--allow-net", CLIENT_SCRIPT, "--port", String(server.port)],
    { NO_COLOR: "1" },
  );
  await terminal.waitForScreen(/^\[broadcast\] guest-\d+>/m);
  const { lines } = numberedLines(60, "pasted ");
  await terminal.type(lines.map((line) => `${line}\r`).join(""));
  assert.deepEqual((await bystander.take("chat", 60)).map((e) => e.content), lines);
  await terminal.waitForScreen(/^\(broadcast\) guest-\d+: pasted 60$/m);
  assert.doesNotMatch(await terminal.screen(), /^!/m);
  await terminal.type("/quit");
  await terminal.press("Enter");
  assert.equal(await terminal.exitStatus(), 0);
});

Deno.test("client - Ctrl+D right after a paste leaves once the paced lines have gone out", async () => {
  await using server = await ServerProcess.start(["--rate-limit", "20", "--rate-burst", "5"]);
  await using bystander = await TestClient.connect(server.port);
  await using terminal = await TmuxSession.start(
    [Deno.execPath(), "run", "--allow-net", CLIENT_SCRIPT, "--port", String(server.port)],
    { NO_COLOR: "1" },
  );
  await terminal.waitForScreen(/^\[broadcast\] guest-\d+>/m);
  const { lines } = numberedLines(30, "before leaving ");
  await terminal.paste(lines.map((line) => `${line}\r`).join(""));
  await terminal.press("C-d");
  assert.deepEqual((await bystander.take("chat", 30)).map((e) => e.content), lines);
  assert.equal(await terminal.exitStatus(), 0);
  assert.match(await terminal.screen(), /^\* waiting for \d+ request\(s\) to go out/m);
});

// ------------------------------------------------------------------ rooms (issue 15)

const joinRoom = (room: string): ClientMessageInit => ({ body: { case: "join", value: { room } } });
const say = (content: string, room: string, clientSeq: bigint): ClientMessageInit => ({
  body: { case: "chat", value: { content, action: Action.BROADCAST, room, clientSeq } },
});

/** A TestClient named `nickname`, in `rooms` besides the lobby. */
async function connectAs(port: number, nickname: string, ...rooms: string[]) {
  const client = await TestClient.connect(port);
  await client.send({ body: { case: "hello", value: { nickname } } });
  await client.nextPresence(PresenceKind.RENAMED);
  for (const room of rooms) {
    await client.send(joinRoom(room));
    await client.next("joined");
  }
  return client;
}

Deno.test("client - piped /join, /who, /msg and /part: lines go to the current room, and each line says where", async () => {
  await using server = await ServerProcess.start();
  await using bob = await connectAs(server.port, "bob", "#dev");
  const input = [
    "/join #Dev",
    "in dev",
    "/who",
    "/msg bob psst",
    "/msg nobody hello?",
    "/part",
    "in the lobby",
    "/rooms",
  ].join("\n");
  const run = await runClient(["--port", String(server.port), "--nick", "alice"], input + "\n");
  // The private message to nobody was refused.
  assert.equal(run.code, 1, run.stderr);
  const lines = run.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 5), [
    "* you are now alice",
    "* joined #dev (2 members)",
    "(broadcast) [#dev] alice: in dev",
    "* 2 in #dev: bob, alice (you)",
    "(private to bob) psst",
  ]);
  assert.match(lines[5], /^! .*"nobody"/);
  assert.deepEqual(lines.slice(6), [
    "* left #dev",
    "(broadcast) alice: in the lobby",
    "* 2 rooms: #lobby (2), #dev (1)",
  ]);
  const seen = await bob.take("chat", 3);
  assert.deepEqual(seen.map((event) => [event.room, event.action, event.content]), [
    ["#dev", Action.BROADCAST, "in dev"],
    ["", Action.PRIVATE, "psst"],
    ["", Action.BROADCAST, "in the lobby"],
  ]);
});

Deno.test("client - /join shows the room's last messages with their time, oldest first, and /history the ones before", async () => {
  await using server = await ServerProcess.start(["--history-on-join", "2"]);
  await using bob = await connectAs(server.port, "bob", "#dev");
  await bob.send(say("in the lobby", "", 1n));
  for (const [i, content] of ["one", "two", "three"].entries()) {
    await bob.send(say(content, "#dev", BigInt(i + 2)));
  }
  await bob.take("chat", 4);
  const run = await runClient(
    ["--port", String(server.port), "--nick", "alice"],
    "/join #dev\n/history\n",
  );
  assert.equal(run.code, 0, run.stderr);
  // Piped output starts at connect: the lobby's history is not shown.
  const time = "\\[\\d\\d:\\d\\d\\]";
  assert.match(
    run.stdout,
    new RegExp(
      [
        "^\\* you are now alice",
        "\\* joined #dev \\(2 members\\); /history shows earlier messages",
        `${time} \\(broadcast\\) \\[#dev\\] bob: two`,
        `${time} \\(broadcast\\) \\[#dev\\] bob: three`,
        `${time} \\(broadcast\\) \\[#dev\\] bob: one`,
        "\\* 1 earlier message of #dev above; nothing older is kept\n$",
      ].join("\n"),
    ),
  );
});

/** A ChatClient in this process, and its events, to wait for with a deadline. */
function recordedClient(port: number) {
  const events: ClientEvent[] = [];
  let wake: (() => void) | undefined;
  const client = new ChatClient({
    port,
    // Never pings: the server's --idle-timeout cuts it, again and again.
    keepaliveMs: 600_000,
    // Back 1 to 2 s later: time for others to talk while it is away.
    backoff: { initialMs: 2000, maxMs: 2000 },
    onEvent(event) {
      events.push(event);
      wake?.();
    },
  });
  const until = (done: () => boolean, what: string, ms = 15_000) =>
    deadline(
      (async () => {
        while (!done()) await new Promise<void>((resolve) => wake = resolve);
      })(),
      ms,
      () => `${what}; events: ${events.map((e) => e.type).join(", ")}`,
    );
  /** The chat messages shown in `room`, in order. */
  const shown = (room: string) =>
    events.flatMap((e) => e.type === "chat" && e.room === room ? [e.event] : []);
  const count = (type: ClientEvent["type"]) => events.filter((e) => e.type === type).length;
  return { client, events, until, shown, count };
}

Deno.test("client - cut by the server, it rejoins its rooms by itself and shows what it missed, each message once, in order", async () => {
  await using server = await ServerProcess.start(["--idle-timeout", "1"]);
  const { client, until, shown, count } = recordedClient(server.port);
  try {
    await until(() => client.isConnected, "the connection");
    client.join("#dev");
    await until(() => count("room") === 1 && client.isConnected, "the join");
    const sent: Record<string, string[]> = { "#lobby": [], "#dev": [] };
    let seq = 1n;
    /** Bob, connecting anew each time (the idle timeout cuts him too), says `count` lines. */
    const bobSays = async (label: string, lines: number) => {
      await using bob = await connectAs(server.port, `bob-${seq}`, "#dev");
      for (let i = 1; i <= lines; i++) {
        for (const room of ["#lobby", "#dev"]) {
          const content = `${label} ${i} in ${room}`;
          await bob.send(say(content, room === "#lobby" ? "" : room, seq++));
          sent[room].push(content);
        }
      }
      await bob.take("chat", lines * 2);
    };
    await bobSays("while there", 2);
    // The server cuts it for saying nothing; what is said until it is back, it missed.
    const cuts = count("disconnected");
    await until(() => count("disconnected") > cuts, "the idle timeout");
    await bobSays("while away", 3);
    await until(() => client.isConnected, "the reconnect");
    // Once more, to see that a second resume brings nothing twice.
    await until(() => count("disconnected") > cuts + 1, "the second idle timeout");
    await bobSays("after", 1);
    for (const room of ["#lobby", "#dev"]) {
      await until(() => shown(room).length >= sent[room].length, `${room}'s messages`);
      const events = shown(room);
      assert.deepEqual(events.map((event) => event.content), sent[room], room);
      // Numbered one by one, with nothing missing or twice.
      const ids = events.map((event) => Number(event.eventId));
      assert.deepEqual(ids, ids.map((_, i) => ids[0] + i), room);
      assert.ok(
        events.some((event) => event.history && event.content.startsWith("while away")),
        `${room}: some of what was missed came from history`,
      );
    }
    assert.equal(count("gap"), 0);
    assert.equal(client.currentRoom, "#dev");
  } finally {
    await client.close();
  }
});

Deno.test("client - what the server no longer keeps when the client is back is counted in a gap notice", async () => {
  await using server = await ServerProcess.start([
    "--idle-timeout",
    "1",
    "--history-size",
    "2",
  ]);
  const { client, events, until, shown, count } = recordedClient(server.port);
  try {
    await until(() => client.isConnected, "the connection");
    {
      // The idle timeout cuts bob too: a connection of his own each time.
      await using bob = await connectAs(server.port, "bob");
      await bob.send(say("first", "", 1n));
      await until(() => shown("#lobby").length === 1, "the first message");
    }
    await until(() => count("disconnected") === 1, "the idle timeout");
    await using bob = await connectAs(server.port, "bob-again");
    for (let i = 1; i <= 5; i++) await bob.send(say(`missed ${i}`, "", BigInt(i)));
    await bob.take("chat", 5);
    await until(() => shown("#lobby").length === 3, "what is kept of the missed messages");
    const after = events.slice(events.findIndex((e) => e.type === "disconnected"));
    const lobby = after.filter((e) =>
      e.type === "gap" || (e.type === "chat" && e.room === "#lobby")
    );
    assert.deepEqual(
      lobby.map((e) =>
        e.type === "gap" ? `gap ${e.room} ${e.missed}` : e.type === "chat" ? e.event.content : ""
      ),
      ["gap #lobby 3", "missed 4", "missed 5"],
    );
  } finally {
    await client.close();
  }
});

Deno.test("client - the console cut by the server says why, comes back to its room and shows what was said meanwhile, once", async () => {
  await using server = await ServerProcess.start(["--idle-timeout", "1"]);
  await using terminal = await TmuxSession.start(
    [
      Deno.execPath(),
      "run",
      "--allow-net",
      CLIENT_SCRIPT,
      "--port",
      String(server.port),
      "--nick",
      "alice",
    ],
    { NO_COLOR: "1" },
  );
  await terminal.waitForScreen(/^\[broadcast\] alice>/m);
  await terminal.type("/join #dev");
  await terminal.press("Enter");
  await terminal.waitForScreen(/^\* joined #dev \(1 member\)$/m);
  await terminal.waitForScreen(/^\[broadcast #dev\] alice>/m);
  await terminal.waitForScreen(/^! Nothing received from you for 1 s$/m);
  await terminal.waitForScreen(/^disconnected: .* - reconnecting in \d+\.\d s$/m);
  await using bob = await connectAs(server.port, "bob", "#dev");
  await bob.send(say("said while alice was away", "#dev", 1n));
  await bob.next("chat");
  await terminal.waitForScreen(/^\* reconnected after \d+\.\d s$/m);
  // From history, dated, when alice was still away; live if she was back first.
  await terminal.waitForScreen(
    /^(\[\d\d:\d\d\] )?\(broadcast\) \[#dev\] bob: said while alice was away$/m,
  );
  // Still in #dev.
  await terminal.waitForScreen((screen) => /\[broadcast #dev\] alice> *$/.test(screen.trimEnd()));
  assert.equal(
    (await terminal.screen()).split("said while alice was away").length,
    2,
    "shown once",
  );
});
