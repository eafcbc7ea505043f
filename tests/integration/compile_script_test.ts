/** `deno task compile`, run as a user runs it: its exit codes and what it says when offline. */
import assert from "node:assert/strict";
import { freePort } from "../support/client_process.ts";
import { runCommand } from "../support/run_command.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Runs `deno task compile ...args` (which bundles first) in the repository. */
function compileTask(args: string[], env: Record<string, string> = {}) {
  return runCommand([Deno.execPath(), "task", "compile", ...args], {
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
  });
}

Deno.test("compile script - an unknown target exits 2 and lists the valid ones", async () => {
  const { code, stderr } = await compileTask(["bogus-target"]);
  assert.equal(code, 2, stderr);
  assert.match(
    stderr,
    /Unknown target "bogus-target": expected one of x86_64-pc-windows-msvc, x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, x86_64-apple-darwin, aarch64-apple-darwin\n/,
  );
});

Deno.test("compile script - an unknown option exits 2", async () => {
  const { code, stderr } = await compileTask(["--frob"]);
  assert.equal(code, 2, stderr);
  assert.match(
    stderr,
    /Unknown option "--frob"\nUsage: deno task compile \[--verbose\] \[TARGET\.\.\.\]\n/,
  );
});

Deno.test("compile script - an unreachable dl.deno.land is one line, pointing to the bundles", async () => {
  // A proxy that refuses every connection makes dl.deno.land unreachable on any machine.
  const proxy = `http://127.0.0.1:${freePort()}`;
  const { code, stdout, stderr } = await compileTask(["x86_64-apple-darwin"], {
    HTTPS_PROXY: proxy,
    https_proxy: proxy,
    NO_PROXY: "",
    no_proxy: "",
  });
  // A DENO_DIR that already holds this target's runtime needs no download.
  if (code === 0) return;
  assert.equal(code, 1, stderr);
  assert.match(
    stdout,
    /^deno compile .* --target x86_64-apple-darwin --output dist\/server-macos-x64 /m,
  );
  // After what `deno task` and the bundle step print.
  const message = stderr.slice(stderr.indexOf("Cannot compile")).split("\n");
  assert.deepEqual(message.slice(0, 2), [
    "Cannot compile dist/server-macos-x64: deno compile downloads its runtime for " +
    "x86_64-apple-darwin from dl.deno.land (once per target), which cannot be reached " +
    "(`deno task compile --verbose` shows Deno's error).",
    "`deno task bundle` works offline; run its bundles with:",
  ]);
  assert.match(message[2], /^ {2}deno run --v8-flags=\S+ --allow-net .*dist\/bundle\/server\.js$/);
  assert.match(message[3], /^ {2}deno run --allow-net.* dist\/bundle\/client\.js$/);
  assert.equal(message.length, 5, stderr);
  assert.doesNotMatch(stderr, /Caused by|Stack backtrace/);
});
