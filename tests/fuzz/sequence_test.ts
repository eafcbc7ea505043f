/**
 * Hello and Chat sequences (see sequences.ts) against the two servers whose nickname
 * claims wait for another party: `--workers 2`, and two servers in a Redis cluster.
 * FUZZ_SECONDS, FUZZ_SEED and FUZZ_CASE as for fuzz_test.ts.
 */
import assert from "node:assert/strict";
import { startClusterServer } from "../support/cluster.ts";
import { RedisProcess } from "../support/redis_process.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { WORKERS_LAUNCHER } from "../support/workers_launcher.ts";
import { runSettings, SERVER_ARGS } from "./fuzz_settings.ts";
import { fuzzSequences } from "./sequences.ts";

/** Fails when a server logged an error or did not stop cleanly. */
async function stopCleanly(server: ServerProcess, replay: string): Promise<void> {
  const status = await server.stop("SIGINT");
  assert.equal(status.code, 0, `the server's exit status; ${replay}\n${server.stderr.text}`);
  const troubles = server.stdout.lines.filter((line) => / ERROR |unexpected error/.test(line));
  assert.deepEqual(troubles, [], `the server logged errors; ${replay}`);
}

Deno.test("fuzz - Hello and Chat sequences against --workers 2: every echo and broadcast exact, once, in order", async () => {
  const settings = runSettings();
  console.log(`fuzz sequences --workers 2 seed=${settings.seed} seconds=${settings.seconds}`);
  await using server = await ServerProcess.start(
    [...SERVER_ARGS, "--workers", "2"],
    WORKERS_LAUNCHER,
  );
  // Two listeners: the kernel shares connections out among the workers.
  await using first = await TestClient.connect(server.port);
  await using second = await TestClient.connect(server.port);
  console.log(
    await fuzzSequences(
      { name: "--workers 2", servers: [server], listeners: [first, second] },
      settings,
    ),
  );
  await stopCleanly(server, `FUZZ_SEED=${settings.seed}`);
});

Deno.test("fuzz - Hello and Chat sequences against two servers in a Redis cluster: every echo and broadcast exact, once, in order", async () => {
  const settings = runSettings();
  console.log(`fuzz sequences cluster seed=${settings.seed} seconds=${settings.seconds}`);
  await using redis = await RedisProcess.start();
  await using a = await startClusterServer(redis.url, SERVER_ARGS);
  await using b = await startClusterServer(redis.url, SERVER_ARGS);
  await using onA = await TestClient.connect(a.port);
  await using onB = await TestClient.connect(b.port);
  console.log(
    await fuzzSequences({ name: "cluster", servers: [a, b], listeners: [onA, onB] }, settings),
  );
  for (const server of [a, b]) await stopCleanly(server, `FUZZ_SEED=${settings.seed}`);
});
