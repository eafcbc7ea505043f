/** The first `deno task` of a fresh clone, with nothing in Deno's cache yet (needs the npm registry). */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("first run - a fresh Deno cache installs the npm packages without a build-script warning", async () => {
  const denoDir = await Deno.makeTempDir({ prefix: "chat-first-run-" });
  try {
    // gen:check runs buf, the one package with a build script (denied in deno.json).
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "gen:check"],
      cwd: ROOT,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(new TextDecoder().decode(output.stdout), "gen/ is up to date.\n");
    assert.doesNotMatch(stderr, /Warning|build scripts/);
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});
