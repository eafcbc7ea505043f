import assert from "node:assert/strict";
import { OutboundQueue } from "../../lib/net/outbound_queue.ts";
import { allocateBytes } from "../../lib/protocol/allocate_bytes.ts";
import { chunkBytes, FramedBatch, type OutboundChunk } from "../../lib/net/framed_batch.ts";

/** A write whose calls are recorded and settled by hand. */
class ManualWriter {
  readonly calls: {
    payloads: readonly OutboundChunk[];
    resolve: () => void;
    reject: (error: unknown) => void;
  }[] = [];
  inFlight = 0;
  maxInFlight = 0;

  readonly write = (payloads: readonly OutboundChunk[]): Promise<void> => {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => {
      this.calls.push({
        payloads: [...payloads],
        resolve: () => {
          this.inFlight--;
          resolve();
        },
        reject: (error) => {
          this.inFlight--;
          reject(error);
        },
      });
    });
  };

  /** The payloads of every write so far, as plain numbers. */
  batches(): number[][][] {
    return this.calls.map((call) => call.payloads.map((payload) => [...(payload as Uint8Array)]));
  }
}

/** Lets queued microtasks (and the promise chains they start) run. */
async function settle(ticks = 20): Promise<void> {
  for (let i = 0; i < ticks; i++) await Promise.resolve();
}

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

const noWriteError = {
  writeFailed(error: unknown): never {
    throw new Error(`unexpected write error: ${error}`);
  },
};

Deno.test("OutboundQueue - frames pushed in one synchronous burst go out in one write, in order", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.push(bytes(1));
  queue.push(bytes(2, 2));
  queue.push(bytes(3, 3, 3));
  // Nothing is written before the current task finishes.
  assert.equal(writer.calls.length, 0);
  assert.equal(queue.pendingBytes, 6);
  assert.equal(queue.isDrained, false);
  await until(() => writer.calls.length > 0, "first write");
  await settle();
  assert.deepEqual(writer.batches(), [[[1], [2, 2], [3, 3, 3]]]);
  // Bytes of a write in flight are not written yet: they still count.
  assert.equal(queue.pendingBytes, 6);
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
  assert.equal(queue.pendingBytes, 4);
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
  assert.equal(queue.pendingBytes, 4);
  await until(() => writer.calls.length === 1, "write");
  assert.ok(writer.calls[0].payloads[0] === shared && writer.calls[0].payloads[1] === shared);
  writer.calls[0].resolve();
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
});

Deno.test("OutboundQueue - stop() drops what is pending and resolves drained waiters", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.push(bytes(1));
  await until(() => writer.calls.length === 1, "first write");
  queue.push(bytes(2, 2));
  queue.push(bytes(3));
  assert.equal(queue.pendingBytes, 4);
  const drained = track(queue.drained());
  queue.stop();
  // Only the write in flight is left.
  assert.equal(queue.pendingBytes, 1);
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

Deno.test("OutboundQueue - chunks piling up behind a write are compacted into memory of their own, in order", async () => {
  const writer = new ManualWriter();
  const queue = new OutboundQueue(writer, noWriteError);
  queue.push(allocateBytes(3).fill(200));
  await until(() => writer.calls.length === 1, "the first write starts");
  // Views into the shared slab, as encoded frames are; 40 of them wait behind the write.
  const sent = Array.from({ length: 40 }, (_, i) => allocateBytes(1 + i % 5).fill(i));
  for (const chunk of sent) queue.push(chunk);
  writer.calls[0].resolve();
  await until(() => writer.calls.length === 2, "the second write starts");
  const chunks = writer.calls[1].payloads;
  assert.ok(chunks.length < 40, `${chunks.length} chunks: not compacted`);
  const payloads = chunks.flatMap((chunk) =>
    chunk instanceof FramedBatch ? chunk.payloads : [chunk]
  );
  assert.deepEqual(payloads.map((payload) => [...payload]), sent.map((payload) => [...payload]));
  for (const chunk of chunks) {
    if (!(chunk instanceof FramedBatch)) continue;
    assert.equal(chunk.framed.buffer.byteLength, chunk.framed.byteLength, "a buffer of its own");
  }
  assert.equal(queue.pendingBytes, chunks.reduce((n, chunk) => n + chunkBytes(chunk), 0));
  writer.calls[1].resolve();
  await queue.drained();
});
