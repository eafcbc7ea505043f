/** The first `deno task` of a fresh clone, with nothing in Deno's cache yet (needs the npm registry). */
import assert from "node:assert/strict";
import { runCommand } from "../support/run_command.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("first run - a fresh Deno cache installs the npm packages without a build-script warning", async () => {
  const denoDir = await Deno.makeTempDir({ prefix: "chat-first-run-" });
  try {
    // gen:check runs buf, the one package with a build script (denied in deno.json).
    const { code, stdout, stderr } = await runCommand([Deno.execPath(), "task", "gen:check"], {
      cwd: ROOT,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
    });
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "gen/ is up to date.\n");
    assert.doesNotMatch(stderr, /Warning|build scripts/);
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});
