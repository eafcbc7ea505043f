import assert from "node:assert/strict";
import { BroadcastLog } from "../../lib/net/broadcast_log.ts";
import { OutboundQueue } from "../../lib/net/outbound_queue.ts";
import { ManualWriter, payloadsOf, settle } from "../support/manual_writer.ts";

/** Waits until `condition` holds, failing after a bounded number of microtask ticks. */
async function until(condition: () => boolean, what: string, ticks = 100): Promise<void> {
  for (let i = 0; i < ticks; i++) {
    if (condition()) return;
    await Promise.resolve();
  }
  assert.fail(`never happened: ${what}`);
}

/** Tracks whether a promise has settled. */
function track(promise: Promise<void>): { done: boolean } {
  const state = { done: false };
  promise.then(() => state.done = true);
  return state;
}

const bytes = (...values: number[]) => new Uint8Array(values);

/** `length` bytes of `value`. */
const filled = (length: number, value: number) => new Uint8Array(length).fill(value);

const noWriteError = {
  writeFailed(error: unknown): never {
    throw new Error(`unexpected write error: ${error}`);
  },
};

function following(log: BroadcastLog): { writer: ManualWriter; queue: OutboundQueue } {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.follow(log);
  return { writer, queue };
}

Deno.test("OutboundQueue - frames pushed in one synchronous burst go out in one write, in order", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.push(bytes(1));
  queue.push(bytes(2, 2));
  queue.push(bytes(3, 3, 3));
  // Nothing is written before the current task finishes.
  assert.equal(writer.calls.length, 0);
  // Each frame is its varint length, then the payload.
  assert.equal(queue.pendingBytes, 2 + 3 + 4);
  assert.equal(queue.isDrained, false);
  await until(() => writer.calls.length > 0, "first write");
  await settle();
  assert.deepEqual(writer.batches(), [[[1], [2, 2], [3, 3, 3]]]);
  // Bytes of a write in flight are not written yet: they still count.
  assert.equal(queue.pendingBytes, 9);
  writer.calls[0].resolve();
  await until(() => queue.isDrained, "drained");
  assert.equal(queue.pendingBytes, 0);
  assert.equal(writer.calls.length, 1);
});

Deno.test("OutboundQueue - never has two writes in flight; the next write takes all that queued meanwhile", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.push(bytes(1));
  await until(() => writer.calls.length === 1, "first write");
  queue.push(bytes(2));
  await settle();
  queue.push(bytes(3));
  queue.push(bytes(4));
  await settle();
  // Still one write, the first one, in flight.
  assert.equal(writer.calls.length, 1);
  assert.equal(queue.pendingBytes, 4 * 2);
  writer.calls[0].resolve();
  await until(() => writer.calls.length === 2, "second write");
  queue.push(bytes(5));
  await settle();
  assert.equal(writer.calls.length, 2);
  writer.calls[1].resolve();
  await until(() => writer.calls.length === 3, "third write");
  writer.calls[2].resolve();
  await until(() => queue.isDrained, "drained");
  assert.deepEqual(writer.batches(), [[[1]], [[2], [3], [4]], [[5]]]);
  assert.equal(writer.maxInFlight, 1);
});

Deno.test("OutboundQueue - the same payload may be queued many times", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  const shared = bytes(7, 7);
  queue.push(shared);
  queue.push(shared);
  assert.equal(queue.pendingBytes, 6);
  await until(() => writer.calls.length === 1, "write");
  assert.deepEqual(writer.batches(), [[[7, 7], [7, 7]]]);
  writer.calls[0].resolve();
  await queue.drained();
});

Deno.test("OutboundQueue - drained() resolves after the last write completes", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  await queue.drained(); // Empty: resolves at once.
  queue.push(bytes(1));
  const drained = track(queue.drained());
  await until(() => writer.calls.length === 1, "first write");
  queue.push(bytes(2));
  writer.calls[0].resolve();
  await until(() => writer.calls.length === 2, "second write");
  await settle();
  assert.equal(drained.done, false, "not drained while the second write is in flight");
  const drainedLater = track(queue.drained());
  writer.calls[1].resolve();
  await until(() => drained.done && drainedLater.done, "drained waiters woken");
  assert.equal(queue.isDrained, true);
  assert.equal(writer.calls.length, 2);
});

Deno.test("OutboundQueue - a failed write reports the error once and later pushes are ignored", async () => {
  const writer = new ManualWriter();
  const errors: unknown[] = [];
  const queue = new OutboundQueue(writer, { writeFailed: (error) => errors.push(error) });
  queue.push(bytes(1));
  await until(() => writer.calls.length === 1, "first write");
  queue.push(bytes(2));
  const drained = track(queue.drained());
  const failure = new Error("connection reset");
  writer.calls[0].reject(failure);
  await until(() => errors.length > 0, "write error reported");
  assert.deepEqual(errors, [failure]);
  await until(() => drained.done, "drained waiter woken");
  // The frame queued behind the failed write is dropped.
  assert.equal(queue.pendingBytes, 0);
  queue.push(bytes(3));
  assert.equal(queue.pendingBytes, 0);
  await settle();
  assert.equal(writer.calls.length, 1);
  assert.equal(errors.length, 1);
  await queue.drained();
});

Deno.test("OutboundQueue - a failed write of the log's frames stops the queue following it", async () => {
  const log = new BroadcastLog();
  const writer = new ManualWriter();
  const errors: unknown[] = [];
  const queue = new OutboundQueue(writer, { writeFailed: (error) => errors.push(error) });
  queue.follow(log);
  log.append(bytes(1));
  queue.writeLog();
  await until(() => writer.calls.length === 1, "first write");
  log.append(bytes(2));
  const failure = new Error("broken pipe");
  writer.calls[0].reject(failure);
  await until(() => errors.length > 0, "write error reported");
  assert.deepEqual(errors, [failure]);
  assert.equal(queue.pendingBytes, 0);
  assert.equal(queue.unwritten(log), undefined);
  log.append(bytes(3));
  queue.writeLog();
  queue.push(bytes(4));
  await settle();
  assert.equal(writer.calls.length, 1);
  assert.equal(errors.length, 1);
  await queue.drained();
});

Deno.test("OutboundQueue - a write that throws synchronously is reported like a rejection", async () => {
  const errors: unknown[] = [];
  const failure = new Error("closed");
  const queue = new OutboundQueue({
    write() {
      throw failure;
    },
  }, { writeFailed: (error) => errors.push(error) });
  queue.push(bytes(1));
  await until(() => errors.length > 0, "write error reported");
  assert.deepEqual(errors, [failure]);
  await queue.drained();
  // The same from a pass, whose write starts inside writeLog().
  const log = new BroadcastLog();
  const logErrors: unknown[] = [];
  const logQueue = new OutboundQueue({
    write() {
      throw failure;
    },
  }, { writeFailed: (error) => logErrors.push(error) });
  logQueue.follow(log);
  log.append(bytes(1));
  logQueue.writeLog();
  await until(() => logErrors.length > 0, "log write error reported");
  assert.deepEqual(logErrors, [failure]);
  await logQueue.drained();
});

Deno.test("OutboundQueue - stop() drops what is pending and resolves drained waiters", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.push(bytes(1));
  await until(() => writer.calls.length === 1, "first write");
  queue.push(bytes(2, 2));
  queue.push(bytes(3));
  assert.equal(queue.pendingBytes, 2 + 3 + 2);
  const drained = track(queue.drained());
  queue.stop();
  // Only the write in flight is left.
  assert.equal(queue.pendingBytes, 2);
  await until(() => drained.done, "drained waiter woken by stop");
  // Accepts nothing more, even once the in-flight write completes.
  queue.push(bytes(4));
  writer.calls[0].resolve();
  await settle();
  assert.equal(writer.calls.length, 1);
  assert.equal(queue.pendingBytes, 0);
  await queue.drained();
});

Deno.test("OutboundQueue - stop() before the first write means nothing is written", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.push(bytes(1));
  queue.stop();
  await settle();
  assert.equal(writer.calls.length, 0);
  await queue.drained();
});

Deno.test("OutboundQueue - stop() drops the log's unwritten frames and stops following it", async () => {
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  queue.stop();
  assert.equal(queue.pendingBytes, 0);
  assert.equal(queue.unwritten(log), undefined);
  log.append(bytes(2));
  queue.writeLog();
  queue.follow(log);
  log.append(bytes(3));
  queue.writeLog();
  await settle();
  assert.equal(writer.calls.length, 0);
  await queue.drained();
});

Deno.test("OutboundQueue - a following queue writes nothing on broadcasts until writeLog()", async () => {
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  log.append(bytes(2, 2));
  await settle();
  assert.equal(writer.calls.length, 0);
  assert.equal(queue.isDrained, true);
  log.append(bytes(3));
  await settle();
  assert.equal(writer.calls.length, 0);
  queue.writeLog();
  await settle();
  assert.deepEqual(writer.batches(), [[[1], [2, 2], [3]]]);
  writer.calls[0].resolve();
  await queue.drained();
  // Nothing new: a pass writes nothing.
  queue.writeLog();
  await settle();
  assert.equal(writer.calls.length, 1);
});

Deno.test("OutboundQueue - writeLog() writes everything past its position in one write, as views of the log's own bytes", async () => {
  const log = new BroadcastLog();
  log.append(filled(10, 9)); // Before the queue follows: not for it.
  const { writer, queue } = following(log);
  const start = log.head;
  // 50 KiB frames: the fifth or sixth crosses into a second 256 KiB segment.
  const sent = Array.from({ length: 8 }, (_, i) => filled(50 * 1024, i));
  for (const payload of sent) log.append(payload);
  const views = log.views(start);
  assert.equal(views.length, 2, "the frames straddle two segments");
  queue.writeLog();
  await settle();
  assert.equal(writer.calls.length, 1);
  const [write] = writer.calls;
  assert.equal(write.framed.length, views.length);
  for (const [i, run] of write.framed.entries()) {
    assert.equal(run.buffer, views[i].buffer, `run ${i} is not in the log's segment`);
    assert.equal(run.byteOffset, views[i].byteOffset);
    assert.equal(run.length, views[i].length);
  }
  assert.deepEqual(payloadsOf(write.framed), sent);
  assert.equal(queue.pendingBytes, log.head - start);
  write.resolve();
  await queue.drained();
  assert.equal(queue.pendingBytes, 0);
  assert.equal(queue.unwritten(log), log.head);
});

Deno.test("OutboundQueue - private frames pushed after log appends come after those log frames", async () => {
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  log.append(bytes(2));
  queue.push(bytes(100));
  log.append(bytes(3));
  await until(() => writer.calls.length === 1, "first write");
  // While a write is in flight too.
  log.append(bytes(4));
  queue.push(bytes(101));
  queue.push(bytes(102));
  log.append(bytes(5));
  queue.writeLog();
  queue.push(bytes(103));
  writer.calls[0].resolve();
  await until(() => writer.calls.length === 2, "second write");
  log.append(bytes(6));
  writer.calls[1].resolve();
  await settle();
  queue.writeLog();
  await until(() => writer.calls.length === 3, "third write");
  writer.calls[2].resolve();
  await queue.drained();
  assert.deepEqual(writer.payloads().map((payload) => [...payload]), [
    [1],
    [2],
    [100],
    [3],
    [4],
    [101],
    [102],
    [5],
    [103],
    [6],
  ]);
  assert.equal(writer.maxInFlight, 1);
});

Deno.test("OutboundQueue - a queue that follows from the head does not get older frames", async () => {
  const log = new BroadcastLog();
  log.append(bytes(1));
  log.append(filled(300 * 1024, 2)); // A segment of its own.
  const { writer, queue } = following(log);
  assert.equal(queue.unwritten(log), log.head);
  assert.equal(queue.pendingBytes, 0);
  queue.writeLog();
  await settle();
  assert.equal(writer.calls.length, 0);
  log.append(bytes(3));
  queue.push(bytes(4));
  await until(() => writer.calls.length === 1, "first write");
  writer.calls[0].resolve();
  await queue.drained();
  assert.deepEqual(writer.batches(), [[[3], [4]]]);
});

Deno.test("OutboundQueue - unfollow() keeps what the log held, written before later private frames", async () => {
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  log.append(bytes(2));
  queue.unfollow();
  assert.equal(queue.unwritten(log), undefined);
  log.append(bytes(3)); // Not for it any more.
  queue.writeLog();
  queue.push(bytes(100));
  await until(() => writer.calls.length === 1, "first write");
  writer.calls[0].resolve();
  await queue.drained();
  assert.deepEqual(writer.payloads().map((payload) => [...payload]), [[1], [2], [100]]);
});

Deno.test("OutboundQueue - unfollow() during a write in flight writes what the log held right after it", async () => {
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  queue.writeLog();
  await until(() => writer.calls.length === 1, "first write");
  log.append(bytes(2));
  queue.unfollow();
  log.append(bytes(3));
  const drained = track(queue.drained());
  writer.calls[0].resolve();
  await until(() => writer.calls.length === 2, "second write");
  assert.equal(drained.done, false);
  writer.calls[1].resolve();
  await until(() => drained.done, "drained");
  assert.deepEqual(writer.batches(), [[[1]], [[2]]]);
});

Deno.test("OutboundQueue - unfollow() with nothing pushed after still writes what the log held", async () => {
  // As a session ending without a last frame does (a client that shut its sending side).
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  queue.unfollow();
  const drained = track(queue.drained());
  await settle();
  assert.equal(writer.calls.length, 1, "the log's frame is never written");
  writer.calls[0].resolve();
  await until(() => drained.done, "drained");
  assert.deepEqual(writer.batches(), [[[1]]]);
});

Deno.test("OutboundQueue - unfollow(true) drops what the log held", async () => {
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  log.append(bytes(2));
  queue.unfollow(undefined, true);
  assert.equal(queue.pendingBytes, 0);
  assert.equal(queue.isDrained, true);
  log.append(bytes(3));
  queue.writeLog();
  queue.push(bytes(100));
  await until(() => writer.calls.length === 1, "first write");
  writer.calls[0].resolve();
  await queue.drained();
  assert.deepEqual(writer.batches(), [[[100]]]);
});

Deno.test("OutboundQueue - pendingBytes counts the log's frames not yet written", async () => {
  const log = new BroadcastLog();
  log.append(filled(1000, 1));
  const { writer, queue } = following(log);
  assert.equal(queue.pendingBytes, 0);
  const start = log.head;
  log.append(filled(200, 2));
  log.append(filled(5, 3));
  assert.equal(queue.pendingBytes, log.head - start);
  assert.equal(queue.pendingBytes, 202 + 6);
  assert.equal(queue.unwritten(log), start);
  queue.push(filled(10, 4));
  assert.equal(queue.pendingBytes, 208 + 11);
  await until(() => writer.calls.length === 1, "first write");
  // In flight: still owed.
  assert.equal(queue.pendingBytes, 219);
  log.append(filled(20, 5));
  assert.equal(queue.pendingBytes, 219 + 21);
  writer.calls[0].resolve();
  await until(() => queue.isDrained, "first write done");
  // What the log gained during the write waits for the next pass, and still counts.
  assert.equal(queue.pendingBytes, 21);
  assert.equal(queue.unwritten(log), log.head - 21);
  queue.writeLog();
  writer.calls[1].resolve();
  await queue.drained();
  assert.equal(queue.pendingBytes, 0);
  assert.equal(queue.unwritten(log), log.head);
});

Deno.test("OutboundQueue - a writeLog() during a write in flight sends the log's new frames right after it", async () => {
  let wanted = 0;
  const log = new BroadcastLog(() => wanted++);
  const { writer, queue } = following(log);
  queue.push(bytes(100));
  await until(() => writer.calls.length === 1, "first write");
  log.append(bytes(1));
  log.append(bytes(2));
  queue.writeLog(); // A pass while the write is in flight.
  await settle();
  assert.equal(writer.calls.length, 1);
  log.append(bytes(3));
  writer.calls[0].resolve();
  await until(() => writer.calls.length === 2, "second write, without another pass");
  assert.deepEqual(writer.batches(), [[[100]], [[1], [2], [3]]]);
  writer.calls[1].resolve();
  await queue.drained();
  assert.equal(wanted, 0, "nothing was left for a pass to do");
  assert.equal(queue.pendingBytes, 0);
});

Deno.test("OutboundQueue - without a pass during the write, the log's new frames wait, and the log is asked for one", async () => {
  let wanted = 0;
  const log = new BroadcastLog(() => wanted++);
  const { writer, queue } = following(log);
  queue.push(bytes(100));
  await until(() => writer.calls.length === 1, "first write");
  log.append(bytes(1));
  writer.calls[0].resolve();
  await until(() => queue.isDrained, "first write done");
  await settle();
  assert.equal(writer.calls.length, 1);
  assert.equal(wanted, 1);
  queue.writeLog();
  await settle();
  assert.deepEqual(writer.batches(), [[[100]], [[1]]]);
  writer.calls[1].resolve();
  await queue.drained();
  assert.equal(wanted, 1);
});

Deno.test("OutboundQueue - clear() drops what is queued and the log's unwritten frames; a write in flight goes on", async () => {
  const log = new BroadcastLog();
  const { writer, queue } = following(log);
  log.append(bytes(1));
  queue.writeLog();
  await until(() => writer.calls.length === 1, "first write");
  log.append(bytes(2));
  queue.push(bytes(100));
  queue.clear();
  // Nothing queued is owed any more; at most the write in flight is.
  assert.ok(queue.pendingBytes <= 2, `${queue.pendingBytes} bytes owed after clear()`);
  log.append(bytes(3));
  queue.push(bytes(101));
  writer.calls[0].resolve();
  await until(() => writer.calls.length === 2, "second write");
  writer.calls[1].resolve();
  await queue.drained();
  assert.deepEqual(writer.batches(), [[[1]], [[3], [101]]]);
  assert.equal(queue.unwritten(log), log.head);
});

Deno.test("OutboundQueue - a log's frames that unfollow() takes still count in pendingBytes until written", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, { writeFailed() {} });
  const log = new BroadcastLog();
  queue.follow(log);
  // The client stops reading: its first write never completes.
  queue.push(new Uint8Array(10));
  await settle();
  assert.equal(writer.calls.length, 1);
  let queued = 0;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 100; i++) log.append(new Uint8Array(1000));
    queued += 100 * 1002;
    // A part, then a join again: what the room had stays owed.
    queue.unfollow(log);
    queue.follow(log);
  }
  assert.ok(
    queue.pendingBytes >= queued,
    `${queued} bytes queued, pendingBytes ${queue.pendingBytes}`,
  );
});
