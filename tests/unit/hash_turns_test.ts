import assert from "node:assert/strict";
import { HashTurnRefusedError, HashTurns } from "../../lib/server/accounts/hash_turns.ts";

Deno.test("hash turns - two at once per requester; a third is refused at once, and a turn given back is free again", async () => {
  const turns = new HashTurns();
  const ends = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const running = ends.map((end) => turns.run("192.0.2.1", () => end.promise));
  let ran = false;
  await assert.rejects(
    turns.run("192.0.2.1", () => Promise.resolve(ran = true)),
    (error) => error instanceof HashTurnRefusedError && /being checked already/.test(error.message),
  );
  assert.equal(ran, false, "a refused task does not run");
  assert.equal(await turns.run("192.0.2.2", () => Promise.resolve("other")), "other");
  ends[0].resolve();
  await running[0];
  assert.equal(await turns.run("192.0.2.1", () => Promise.resolve("again")), "again");
  ends[1].resolve();
  await running[1];
});

Deno.test("hash turns - a task that fails gives its turn back", async () => {
  const turns = new HashTurns();
  for (let i = 0; i < 3; i++) {
    await assert.rejects(turns.run("192.0.2.1", () => Promise.reject(new Error("boom"))), /boom/);
  }
  assert.equal(await turns.run("192.0.2.1", () => Promise.resolve(1)), 1);
});
