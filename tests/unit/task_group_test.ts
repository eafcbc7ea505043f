import assert from "node:assert/strict";
import { TaskGroup } from "../../lib/util/task_group.ts";

/** Tracks whether a promise has settled. */
function track(promise: Promise<void>): { done: boolean } {
  const state = { done: false };
  promise.then(() => state.done = true);
  return state;
}

Deno.test("TaskGroup - idle at once when no task runs", async () => {
  const group = new TaskGroup(() => assert.fail("no task failed"));
  await group.idle();
});

Deno.test("TaskGroup - idle resolves once every task has settled, failed ones included", async () => {
  const failures: unknown[] = [];
  const group = new TaskGroup((error) => failures.push(error));
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  group.add(first.promise);
  group.add(second.promise);
  const idle = track(group.idle());
  first.resolve();
  await first.promise;
  await Promise.resolve();
  assert.equal(idle.done, false);
  const failure = new Error("boom");
  second.reject(failure);
  await group.idle();
  assert.deepEqual(failures, [failure]);
  // Idle again: a later wait resolves at once.
  await group.idle();
});
