import assert from "node:assert/strict";
import { Semaphore, SemaphoreTimeoutError } from "../../lib/util/semaphore.ts";

Deno.test("Semaphore - at most its permits run at once, the others in the order they came", async () => {
  const semaphore = new Semaphore(2);
  const started: number[] = [];
  const gates = [0, 1, 2, 3].map(() => Promise.withResolvers<void>());
  let running = 0;
  let most = 0;
  const runs = gates.map((gate, n) =>
    semaphore.run(async () => {
      started.push(n);
      most = Math.max(most, ++running);
      await gate.promise;
      running--;
      return n;
    })
  );
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  gates[1].resolve();
  gates[0].resolve();
  gates[2].resolve();
  gates[3].resolve();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.equal(most, 2);
});

Deno.test("Semaphore - a task that fails frees its permit", async () => {
  const semaphore = new Semaphore(1);
  await assert.rejects(semaphore.run(() => Promise.reject(new Error("no"))), /no/);
  assert.equal(await semaphore.run(() => Promise.resolve(7)), 7);
});

Deno.test("Semaphore - a wait past its bound gives up without running, and takes no permit", async () => {
  const semaphore = new Semaphore(1);
  const hold = Promise.withResolvers<void>();
  const holder = semaphore.run(() => hold.promise);
  let ran = false;
  await assert.rejects(
    semaphore.run(() => Promise.resolve(ran = true), 10),
    SemaphoreTimeoutError,
  );
  assert.equal(ran, false);
  hold.resolve();
  await holder;
  assert.equal(await semaphore.run(() => Promise.resolve("free"), 10), "free");
});
