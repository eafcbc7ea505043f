import assert from "node:assert/strict";
import { runCommand } from "../support/run_command.ts";

const TOOL = new URL("../../lib/bench/bare_deno.ts", import.meta.url).pathname;

/** Runs `deno task bench:bare` with `args` and returns its one line of output. */
async function bare(...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await runCommand([
    Deno.execPath(),
    "run",
    "-A",
    "--v8-flags=--expose-gc",
    TOOL,
    ...args,
  ]);
  assert.equal(code, 0, stderr);
  return stdout.trim();
}

/** The rate and both sides' CPU from a rate line. */
function parseRate(line: string, unit: string) {
  const match = new RegExp(
    `: (\\d+) ${unit}/s; CPU s: server (\\d+\\.\\d+), clients (\\d+\\.\\d+), in (\\d+\\.\\d+) s$`,
  ).exec(line);
  assert.ok(match, line);
  const [rate, serverCpu, clientCpu, seconds] = match.slice(1).map(Number);
  return { rate, serverCpu, clientCpu, seconds };
}

Deno.test("bare Deno bench - echo counts replies for the duration asked", async () => {
  const line = await bare("echo", "--clients", "4", "--window", "2", "--duration", "1");
  const { rate, clientCpu, seconds } = parseRate(line, "replies");
  assert.ok(rate > 100, line);
  assert.ok(clientCpu > 0, line);
  assert.ok(seconds >= 1 && seconds < 10, line);
});

Deno.test("bare Deno bench - broadcast counts deliveries to every client", async () => {
  const line = await bare(
    ...["broadcast", "--clients", "20", "--publishers", "2", "--window", "4", "--duration", "1"],
  );
  assert.ok(parseRate(line, "deliveries").rate > 100, line);
});

Deno.test("bare Deno bench - accept and idle report every connection", async () => {
  const accept = await bare("accept", "--connections", "300");
  assert.match(accept, /accept, 300 connections/);
  assert.ok(parseRate(accept, "accepted").rate > 0, accept);

  const idle = await bare("idle", "--connections", "300");
  const match =
    /^bare Deno, 300 accepted connections, .*: (-?\d+) B of RSS and (\d+) B of JavaScript heap per connection$/
      .exec(idle);
  assert.ok(match, idle);
  // A connection costs a Deno object, its addresses and a pending read: a few KB of heap.
  const heap = Number(match[2]);
  assert.ok(heap > 500 && heap < 64 * 1024, idle);
});
