/**
 * Issue 13, finding 8: a message padded with spaces to the terminal's width used
 * to wrap so that its tail showed as a line of its own, from someone else. The
 * real server, the terminal client in an 80-column tmux pane, and the real client
 * piped, sending the forgeries.
 */
import assert from "node:assert/strict";
import { textWidth } from "../../lib/cli/text_width.ts";
import { runClient } from "../support/client_process.ts";
import { CLIENT_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TmuxSession } from "../support/tmux.ts";

const FORGED_BROADCAST = "(broadcast) admin: please send me your password";
const FORGED_LEAVE = "* alice left (1 online)";
/** What the piped client's own broadcasts start with on alice's screen. */
const PREFIX = "(broadcast) mallory: ";

/** `text` after `padding` that takes the rest of a row `columns` wide behind PREFIX. */
const padded = (padding: string, columns: number, text: string) =>
  padding + " ".repeat(columns - PREFIX.length - textWidth(padding)) + text;

/** Sends `lines` as mallory through the real client, piped; its output is one line per message. */
async function mallorySends(port: number, lines: string[]): Promise<void> {
  const run = await runClient(["--port", String(port), "--nick", "mallory"], lines.join("\n"));
  assert.equal(run.code, 0, run.stderr);
  const shown = run.stdout.split("\n");
  for (const line of lines) assert.ok(shown.includes(PREFIX + line), `one line: ${line}`);
}

/** The terminal client in an 80-column tmux pane, once it is at its prompt. */
async function watchingClient(port: number): Promise<TmuxSession> {
  const terminal = await TmuxSession.start(
    [Deno.execPath(), "run", "--allow-net", CLIENT_SCRIPT, "--port", String(port)],
    { NO_COLOR: "1" },
    { columns: 80, rows: 40 },
  );
  await terminal.waitForScreen(/^\[broadcast\] guest-\d+>$/m);
  return terminal;
}

/** The screen's rows, trailing spaces dropped. */
async function rows(terminal: TmuxSession): Promise<string[]> {
  return (await terminal.screen()).split("\n").map((row) => row.trimEnd());
}

/** The forged texts are on the screen, each on a row of its own that starts with the indent. */
function assertIndented(screen: string[], forged: string[]): void {
  for (const text of forged) {
    const shown = screen.filter((row) => row.includes(text));
    assert.deepEqual(shown, [`    ${text}`], `${text} on:\n${screen.join("\n")}`);
  }
}

Deno.test("wrap forgery - a message padded to the width wraps onto indented rows, never a line of its own", async () => {
  await using server = await ServerProcess.start();
  await using terminal = await watchingClient(server.port);

  await mallorySends(server.port, [
    padded("ok", 80, FORGED_BROADCAST),
    padded("bye", 80, FORGED_LEAVE),
  ]);
  await terminal.waitForScreen(/^\* mallory left \(1 online\)$/m);
  const screen = await rows(terminal);
  assertIndented(screen, [FORGED_BROADCAST, FORGED_LEAVE]);
  assert.deepEqual(screen.filter((row) => row.startsWith(PREFIX)), [`${PREFIX}ok`, `${PREFIX}bye`]);

  // After a resize, new lines wrap at the new width; there wide characters pad to it.
  await terminal.resize(60, 40);
  await mallorySends(server.port, [padded("日".repeat(19), 60, FORGED_LEAVE)]);
  await terminal.waitForScreen((s) => s.split("* mallory left (1 online)").length === 3);
  const after = await rows(terminal);
  assert.ok(after.includes(PREFIX + "日".repeat(19)), after.join("\n"));
  assertIndented(after.slice(after.lastIndexOf(PREFIX + "日".repeat(19))), [FORGED_LEAVE]);
  assert.deepEqual(
    after.filter((row) => row.startsWith("(broadcast) admin") || row.startsWith("* alice")),
    [],
  );
});

Deno.test("wrap forgery - characters tmux draws wider than the client counts cut a row's end, never wrap it to the left edge", async () => {
  await using server = await ServerProcess.start();
  await using terminal = await watchingClient(server.port);
  // tmux 3.3a draws the Yijing hexagrams and circled numbers two columns wide; wcwidth one.
  // Enough of them after one letter to take the rest of the row as tmux draws them.
  const wide = (character: string) => character.repeat((80 - PREFIX.length - 1) / 2);
  const FORGED_RENAME = "* alice is now admin";
  await mallorySends(server.port, [
    `x${wide("\u4dc0")}${FORGED_RENAME}`,
    `y${wide("\u3248")}${FORGED_BROADCAST}`,
  ]);
  await terminal.waitForScreen(/^\* mallory left \(1 online\)$/m);
  const screen = await rows(terminal);
  assert.deepEqual(
    screen.filter((row) => row.startsWith("* alice") || row.startsWith("(broadcast) admin")),
    [],
    screen.join("\n"),
  );
});
