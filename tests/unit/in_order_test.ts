import assert from "node:assert/strict";
import { InOrder } from "../../lib/server/in_order.ts";

/** Lets pending promise callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * An InOrder over strings whose handler logs each item, and waits on the promise
 * `waits` holds for that item, if any.
 */
function recorder(maxWaiting = 100) {
  const ran: string[] = [];
  const errors: unknown[] = [];
  const waits = new Map<string, Promise<void>>();
  const inOrder = new InOrder<string>({
    keep: (item) => item,
    handle(item) {
      ran.push(item);
      return waits.get(item);
    },
    handleFailed: (error) => errors.push(error),
  }, maxWaiting);
  return { inOrder, ran, errors, waits };
}

Deno.test("InOrder - synchronous handlers run at once, in order", () => {
  const { inOrder, ran, errors } = recorder();
  assert.equal(inOrder.push("a"), true);
  assert.deepEqual(ran, ["a"]);
  assert.equal(inOrder.push("b"), true);
  assert.equal(inOrder.push("c"), true);
  assert.deepEqual(ran, ["a", "b", "c"]);
  assert.deepEqual(errors, []);
});

Deno.test("InOrder - a pending handler holds later items until it settles", async () => {
  const { inOrder, ran, errors, waits } = recorder();
  const wait = Promise.withResolvers<void>();
  waits.set("b", wait.promise);
  inOrder.push("a");
  inOrder.push("b");
  assert.equal(inOrder.push("c"), true);
  assert.equal(inOrder.push("d"), true);
  assert.deepEqual(ran, ["a", "b"]);
  await settle();
  assert.deepEqual(ran, ["a", "b"], "still waiting");
  wait.resolve();
  await settle();
  assert.deepEqual(ran, ["a", "b", "c", "d"]);
  // Free again: the next item runs at once.
  inOrder.push("e");
  assert.deepEqual(ran, ["a", "b", "c", "d", "e"]);
  assert.deepEqual(errors, []);
});

Deno.test("InOrder - a waiting item that itself waits holds the ones behind it", async () => {
  const { inOrder, ran, waits } = recorder();
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  waits.set("a", first.promise);
  waits.set("c", second.promise);
  for (const item of ["a", "b", "c", "d", "e"]) inOrder.push(item);
  assert.deepEqual(ran, ["a"]);
  first.resolve();
  await settle();
  assert.deepEqual(ran, ["a", "b", "c"]);
  // Pushed while c waits: behind d and e.
  inOrder.push("f");
  second.resolve();
  await settle();
  assert.deepEqual(ran, ["a", "b", "c", "d", "e", "f"]);
});

Deno.test("InOrder - a rejected handler calls onError and the later items still run", async () => {
  const { inOrder, ran, errors, waits } = recorder();
  const wait = Promise.withResolvers<void>();
  waits.set("a", wait.promise);
  inOrder.push("a");
  inOrder.push("b");
  inOrder.push("c");
  const failure = new Error("claim failed");
  wait.reject(failure);
  await settle();
  assert.deepEqual(errors, [failure]);
  assert.deepEqual(ran, ["a", "b", "c"]);
  inOrder.push("d");
  assert.deepEqual(ran, ["a", "b", "c", "d"]);
  assert.equal(errors.length, 1);
});

Deno.test("InOrder - push drops items past maxWaiting and says so", async () => {
  const { inOrder, ran, waits } = recorder(2);
  const wait = Promise.withResolvers<void>();
  waits.set("a", wait.promise);
  assert.equal(inOrder.push("a"), true, "runs at once: not counted as waiting");
  assert.equal(inOrder.push("b"), true);
  assert.equal(inOrder.push("c"), true);
  assert.equal(inOrder.push("d"), false);
  assert.equal(inOrder.push("e"), false);
  wait.resolve();
  await settle();
  assert.deepEqual(ran, ["a", "b", "c"], "the dropped items never run");
  // Room again once the queue drained.
  assert.equal(inOrder.push("f"), true);
  assert.deepEqual(ran, ["a", "b", "c", "f"]);
});

Deno.test("InOrder - with maxWaiting 0 nothing queues behind a pending handler", async () => {
  const { inOrder, ran, waits } = recorder(0);
  const wait = Promise.withResolvers<void>();
  waits.set("a", wait.promise);
  assert.equal(inOrder.push("a"), true);
  assert.equal(inOrder.push("b"), false);
  wait.resolve();
  await settle();
  assert.equal(inOrder.push("c"), true);
  assert.deepEqual(ran, ["a", "c"]);
});

Deno.test("InOrder - idle resolves once the items waiting behind a pending one have run", async () => {
  const handled: number[] = [];
  const gate = Promise.withResolvers<void>();
  const queue = new InOrder<number>({
    keep: (item) => item,
    handle(item) {
      handled.push(item);
      return item === 1 ? gate.promise : undefined;
    },
    handleFailed() {},
  }, 10);
  await queue.idle();
  queue.push(1);
  queue.push(2);
  let idle = false;
  const waiting = queue.idle().then(() => idle = true);
  await Promise.resolve();
  assert.equal(idle, false);
  gate.resolve();
  await waiting;
  assert.deepEqual(handled, [1, 2]);
});

Deno.test("InOrder - a handler that throws is reported and the rest still run in order", async () => {
  const errors: unknown[] = [];
  const handled: number[] = [];
  const gate = Promise.withResolvers<void>();
  const queue = new InOrder<number>({
    keep: (item) => item,
    handle(item) {
      if (item === 2) throw new Error("boom");
      handled.push(item);
      return item === 1 ? gate.promise : undefined;
    },
    handleFailed: (error) => errors.push(error),
  }, 10);
  queue.push(1);
  queue.push(2);
  queue.push(3);
  gate.resolve();
  await queue.idle();
  assert.deepEqual(handled, [1, 3]);
  assert.equal(errors.length, 1);
});

Deno.test("InOrder - an item that waits is kept as keep() makes it, not as pushed", async () => {
  const gate = Promise.withResolvers<void>();
  const handled: string[] = [];
  const queue = new InOrder<Uint8Array>({
    keep: (item) => item.slice(),
    handle(item) {
      handled.push(new TextDecoder().decode(item));
      return handled.length === 1 ? gate.promise : undefined;
    },
    handleFailed() {},
  }, 10);
  const readBuffer = new TextEncoder().encode("first second");
  queue.push(readBuffer.subarray(0, 5));
  queue.push(readBuffer.subarray(6));
  // The next read lands in the same buffer while "second" waits.
  readBuffer.set(new TextEncoder().encode("xxxxx xxxxxx"));
  gate.resolve();
  await queue.idle();
  assert.deepEqual(handled, ["first", "second"]);
});
