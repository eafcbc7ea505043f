/**
 * The README's quick start, as a new user runs it: `deno task server` and `deno task client`
 * from the repository, in a real terminal, on the default ports 8080 and 8081. Through
 * `deno task`, which passes a Ctrl+C on to the server as well as the terminal: the server
 * often gets it twice.
 */
import assert from "node:assert/strict";
import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { TestClient } from "../support/test_client.ts";
import { TmuxSession } from "../support/tmux.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Up to a minute: the first run in a fresh clone fetches and compiles the npm packages. */
const START_MS = 60_000;

/** `deno task NAME ...args` in a terminal of its own, at the root of the repository. */
function task(name: string, ...args: string[]): Promise<TmuxSession> {
  return TmuxSession.start([Deno.execPath(), "task", name, ...args], {}, { cwd: ROOT });
}

/** Waits for `ready` on the screen, failing at once on a permission prompt instead. */
async function waitWithoutPrompt(terminal: TmuxSession, ready: RegExp): Promise<void> {
  const screen = await terminal.waitForScreen(
    (text) => ready.test(text) || text.includes("Allow?"),
    START_MS,
  );
  assert.ok(!screen.includes("Allow?"), `a permission prompt:\n${screen}`);
}

Deno.test("quick start - deno task server: no prompt, its addresses, and one Ctrl+C stops it gracefully, five times in a row", async () => {
  const lan = Deno.networkInterfaces()
    .filter(({ family, address }) => family === "IPv4" && !address.startsWith("127."))
    .map(({ address }) => `, ${address}:8080`);
  for (let run = 1; run <= 5; run++) {
    await using server = await task("server");
    await waitWithoutPrompt(server, /press Ctrl\+C to stop/);
    const started = (await server.transcript()).join("\n");
    assert.match(started, / listening on 0\.0\.0\.0:8080$/m);
    assert.ok(
      started.includes(` clients can connect to 127.0.0.1:8080${lan.join("")}\n`),
      `the loopback and LAN addresses, run ${run}:\n${started}`,
    );
    await using client = await TestClient.connect(8080);
    await server.press("C-c");
    const farewell = await client.next("error", 15_000);
    assert.equal(farewell.code, ErrorCode.SHUTTING_DOWN, `run ${run}`);
    await client.closed;
    const code = await server.exitStatus(20_000);
    const transcript = (await server.transcript()).join("\n");
    assert.equal(code, 0, `run ${run}:\n${transcript}`);
    assert.match(transcript, / shutting down: 1 session$/m);
    assert.match(transcript, / stopped$/m, `run ${run}`);
  }
});

Deno.test("quick start - deno task client: no prompt, and it chats", async () => {
  await using server = await task("server");
  await waitWithoutPrompt(server, /press Ctrl\+C to stop/);
  await using client = await task("client", "--nick", "newcomer");
  await waitWithoutPrompt(client, /\[broadcast\] newcomer>/);
  await using other = await TestClient.connect(8080);
  await client.type("hello from the quick start");
  await client.press("Enter");
  assert.equal((await other.next("chat")).content, "hello from the quick start");
});
