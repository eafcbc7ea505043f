import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { AppendOrder, BroadcastLog } from "../../lib/net/broadcast_log.ts";
import { OutboundQueue } from "../../lib/net/outbound_queue.ts";
import { framedPayloads } from "../support/framed_payloads.ts";
import { ManualWriter, settle } from "../support/manual_writer.ts";

/** The log's segment size (SEGMENT_BYTES in broadcast_log.ts). */
const SEGMENT = 256 * 1024;

/** The bytes a frame of `length` payload bytes takes: its varint length, then the payload. */
function frameSize(length: number): number {
  let size = 1;
  for (let n = length; n >= 0x80; n = Math.floor(n / 0x80)) size++;
  return size + length;
}

/** `length` bytes that tell payload `seq` from the others: its number, then a pattern. */
function payload(seq: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length).fill((seq * 37 + 11) & 0xff);
  for (let i = 0; i < 4 && i < length; i++) bytes[i] = (seq >>> (8 * i)) & 0xff;
  return bytes;
}

function sameContent(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length)
    .equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Fails unless `actual` holds the same payloads as `expected`, in order. */
function assertPayloads(actual: Uint8Array[], expected: Uint8Array[], what: string): void {
  assert.equal(
    actual.length,
    expected.length,
    `${what}: ${actual.length} payloads, not ${expected.length}`,
  );
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      sameContent(actual[i], expected[i]),
      `${what}: payload ${i} differs (${actual[i].length} bytes, expected ${expected[i].length})`,
    );
  }
}

/** The payloads of the log from `from` to its head. */
function read(log: BroadcastLog, from: number): Uint8Array[] {
  return log.views(from).flatMap((view) => framedPayloads(view));
}

/** Appends `payloads`, returning the position each frame starts at. */
function appendAll(log: BroadcastLog, payloads: Uint8Array[]): number[] {
  return payloads.map((payload) => {
    const position = log.head;
    log.append(payload);
    return position;
  });
}

/** 50 KiB payloads: five frames fit a segment, the sixth starts the next. */
const FIFTY_KIB = 50 * 1024;
const FRAME_50K = frameSize(FIFTY_KIB);
const PER_SEGMENT = Math.floor(SEGMENT / FRAME_50K);

Deno.test("BroadcastLog - an empty log holds nothing", () => {
  const log = new BroadcastLog();
  assert.equal(log.head, 0);
  assert.equal(log.tail, 0);
  assert.equal(log.retainedBytes, 0);
  assert.equal(log.framesAppended, 0);
  log.release(0);
  assert.equal(log.tail, 0);
  assert.equal(log.retainedBytes, 0);
});

Deno.test("BroadcastLog - views() at the head of an empty log is empty", () => {
  const log = new BroadcastLog();
  assert.deepEqual(log.views(0), []);
  log.release(0);
  assert.deepEqual(log.views(0), []);
});

Deno.test("BroadcastLog - frames are a varint length, then the payload, read back from any frame's start", () => {
  const log = new BroadcastLog();
  const sent = [payload(1, 0), payload(2, 1), payload(3, 127), payload(4, 128), payload(5, 20000)];
  const positions = appendAll(log, sent);
  assert.deepEqual(positions, [0, 1, 3, 131, 261]);
  assert.equal(log.head, 261 + 20003);
  assert.equal(log.framesAppended, 5);
  const [view] = log.views(0);
  assert.deepEqual([...view.subarray(0, 4)], [0, 1, 2, 127]);
  for (const [i, position] of positions.entries()) {
    assertPayloads(read(log, position), sent.slice(i), `from ${position}`);
  }
  assert.deepEqual(log.views(log.head), []);
});

Deno.test("BroadcastLog - views cross segment boundaries, each holding whole frames", () => {
  const log = new BroadcastLog();
  const sent = Array.from({ length: 3 * PER_SEGMENT + 2 }, (_, i) => payload(i, FIFTY_KIB));
  const positions = appendAll(log, sent);
  // A frame never straddles two segments: the first frame of a segment starts a view.
  const views = log.views(0);
  assert.equal(views.length, 4);
  assert.deepEqual(views.map((view) => view.length), [
    PER_SEGMENT * FRAME_50K,
    PER_SEGMENT * FRAME_50K,
    PER_SEGMENT * FRAME_50K,
    2 * FRAME_50K,
  ]);
  assert.equal(new Set(views.map((view) => view.buffer)).size, 4, "one segment per view");
  for (const [i, position] of positions.entries()) {
    const from = log.views(position);
    assert.equal(from.length, 4 - Math.floor(i / PER_SEGMENT), `views from frame ${i}`);
    assertPayloads(from.flatMap((view) => framedPayloads(view)), sent.slice(i), `from frame ${i}`);
  }
  // Exactly at a segment's end: the next segment alone.
  const boundary = PER_SEGMENT * FRAME_50K;
  assert.equal(log.views(boundary).length, 3);
  assert.equal(log.views(boundary)[0].byteOffset, 0);
});

Deno.test("BroadcastLog - views are the log's own bytes, not copies", () => {
  const log = new BroadcastLog();
  log.append(payload(1, 10));
  log.append(payload(2, 10));
  const [all] = log.views(0);
  const [second] = log.views(11);
  assert.equal(all.buffer, second.buffer);
  assert.equal(second.byteOffset, all.byteOffset + 11);
});

Deno.test("BroadcastLog - a frame larger than a segment gets one of its own", () => {
  const log = new BroadcastLog();
  log.append(payload(1, 10));
  const big = payload(2, 300 * 1024);
  log.append(big);
  log.append(payload(3, 10));
  const views = log.views(0);
  assert.deepEqual(views.map((view) => view.length), [11, frameSize(big.length), 11]);
  assert.equal(log.retainedBytes, SEGMENT + frameSize(big.length) + SEGMENT);
  assertPayloads(read(log, 11), [big, payload(3, 10)], "from the big frame");
});

Deno.test("BroadcastLog - release() drops only segments wholly before the position, and keeps the last", () => {
  const log = new BroadcastLog();
  const sent = Array.from({ length: 2 * PER_SEGMENT + 1 }, (_, i) => payload(i, FIFTY_KIB));
  const positions = appendAll(log, sent);
  const second = PER_SEGMENT * FRAME_50K;
  const third = 2 * PER_SEGMENT * FRAME_50K;
  assert.equal(log.retainedBytes, 3 * SEGMENT);
  log.release(0);
  assert.equal(log.tail, 0);
  // Within the first segment, even at its last frame: it is still needed.
  log.release(positions[PER_SEGMENT - 1]);
  assert.equal(log.tail, 0);
  log.release(second - 1);
  assert.equal(log.tail, 0);
  const early = log.views(0);
  log.release(second);
  assert.equal(log.tail, second);
  assert.equal(log.retainedBytes, 2 * SEGMENT);
  // Views handed out before stay valid.
  assertPayloads(early.flatMap((view) => framedPayloads(view)), sent, "views taken before");
  assertPayloads(read(log, second), sent.slice(PER_SEGMENT), "from the new tail");
  // Past everything: the last segment stays, for the frames to come.
  log.release(log.head);
  assert.equal(log.tail, third);
  assert.equal(log.retainedBytes, SEGMENT);
  assertPayloads(read(log, third), sent.slice(2 * PER_SEGMENT), "the last segment");
  // Releasing never moves back.
  log.release(0);
  assert.equal(log.tail, third);
  log.append(payload(99, 10));
  assertPayloads(read(log, third), [...sent.slice(2 * PER_SEGMENT), payload(99, 10)], "after");
});

Deno.test("BroadcastLog - a segment read to its end but last is kept", () => {
  const log = new BroadcastLog();
  log.append(payload(1, 100));
  log.release(log.head);
  assert.equal(log.tail, 0);
  assert.equal(log.retainedBytes, SEGMENT);
  assert.deepEqual(log.views(log.head), []);
});

Deno.test("BroadcastLog - views() before the tail or past the head throws RangeError", () => {
  const log = new BroadcastLog();
  assert.throws(() => log.views(1), RangeError);
  assert.throws(() => log.views(-1), RangeError);
  for (let i = 0; i < PER_SEGMENT + 1; i++) log.append(payload(i, FIFTY_KIB));
  assert.throws(() => log.views(log.head + 1), RangeError);
  log.release(log.head);
  assert.equal(log.tail, PER_SEGMENT * FRAME_50K);
  assert.throws(() => log.views(0), RangeError);
  assert.throws(() => log.views(log.tail - 1), RangeError);
  assert.equal(log.views(log.tail).length, 1);
});

Deno.test("BroadcastLog - retainedBytes is the segments held, whole", () => {
  const log = new BroadcastLog();
  assert.equal(log.retainedBytes, 0);
  log.append(payload(0, 0));
  assert.equal(log.retainedBytes, SEGMENT);
  for (let i = 1; i <= PER_SEGMENT; i++) log.append(payload(i, FIFTY_KIB));
  // One empty frame and five of 50 KiB still fit; the sixth would not.
  assert.equal(log.retainedBytes, SEGMENT);
  log.append(payload(99, FIFTY_KIB));
  assert.equal(log.retainedBytes, 2 * SEGMENT);
  log.release(log.head);
  assert.equal(log.retainedBytes, SEGMENT);
});

Deno.test("BroadcastLog - want() asks the owner for a pass", () => {
  let wanted = 0;
  const log = new BroadcastLog(() => wanted++);
  log.want();
  log.want();
  assert.equal(wanted, 2);
  new BroadcastLog().want(); // Without an owner: nothing to ask.
});

// ---- Properties against a reference model ----

/** Payload sizes: mostly small, up to 70,000 bytes (beside 256 KiB segments). */
const payloadSize = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 200 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 70000 }) },
);

/**
 * The bound on what the log holds, given the span its readers still need (head minus the
 * oldest position a reader has not been written) and the largest frame (smaller than a
 * segment). In positions, what the log holds is that span plus at most one segment and
 * a frame (the rest of the segment the oldest reader is in). In bytes, the held segments
 * are also whole: the first and the last (being filled) are at most a segment each, and
 * each one between lies in the span and was sealed only when a frame would not fit, so
 * holds over SEGMENT - largest frame of it.
 */
function assertBounded(log: BroadcastLog, oldest: number, largestFrame: number, what: string) {
  const span = log.head - oldest;
  assert.ok(
    log.head - log.tail <= span + SEGMENT + largestFrame,
    `${what}: holds ${log.tail}..${log.head} for a span of ${span} (largest frame ${largestFrame})`,
  );
  const bound = 2 * SEGMENT + span * SEGMENT / (SEGMENT - largestFrame);
  assert.ok(
    log.retainedBytes <= bound,
    `${what}: ${log.retainedBytes} bytes retained for a span of ${span}, over ${bound}`,
  );
}

Deno.test("BroadcastLog - property: reading from any retained frame gives exactly the payloads appended since", () => {
  type Step = { kind: "append"; size: number } | { kind: "release"; pick: number } | {
    kind: "read";
    pick: number;
  };
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: payloadSize.map((size) => ({ kind: "append" as const, size })) },
    { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: "release" as const, pick })) },
    { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: "read" as const, pick })) },
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60, size: "max" }), (steps) => {
      const log = new BroadcastLog();
      // The model: every frame's position and payload; frames before `released` are not needed.
      const frames: { position: number; payload: Uint8Array }[] = [];
      let released = 0;
      let largestFrame = 0;
      /** A frame's start at or after `released`, or the head. */
      const boundary = (pick: number) => {
        const needed = frames.filter((frame) => frame.position >= released);
        return pick % (needed.length + 1) === needed.length
          ? log.head
          : needed[pick % (needed.length + 1)].position;
      };
      for (const [i, s] of steps.entries()) {
        if (s.kind === "append") {
          const p = payload(frames.length, s.size);
          frames.push({ position: log.head, payload: p });
          log.append(p);
          largestFrame = Math.max(largestFrame, frameSize(s.size));
          assert.equal(log.head, frames.at(-1)!.position + frameSize(s.size));
        } else if (s.kind === "release") {
          released = Math.max(released, boundary(s.pick));
          log.release(released);
          assertBounded(log, released, largestFrame, `step ${i}`);
        } else {
          const from = boundary(s.pick);
          assert.ok(log.tail <= from, `step ${i}: ${from} was released (tail ${log.tail})`);
          assertPayloads(
            read(log, from),
            frames.filter((frame) => frame.position >= from).map((frame) => frame.payload),
            `step ${i}: from ${from}`,
          );
        }
        assert.equal(log.framesAppended, frames.length);
        // The tail is a frame's start (or the head), never inside a frame.
        assert.ok(
          log.tail === log.head || frames.some((frame) => frame.position === log.tail),
          `step ${i}: tail ${log.tail} is inside a frame`,
        );
      }
    }),
    { numRuns: 300 },
  );
});

type Command =
  | { kind: "append"; size: number }
  | { kind: "follow"; reader: number }
  | { kind: "unfollow"; reader: number }
  | { kind: "push"; reader: number; size: number }
  | { kind: "pass" }
  | { kind: "complete"; reader: number }
  | { kind: "tick" };

const READERS = 3;

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: payloadSize.map((size) => ({ kind: "append" as const, size })) },
  {
    weight: 1,
    arbitrary: fc.nat(READERS - 1).map((reader) => ({ kind: "follow" as const, reader })),
  },
  {
    weight: 1,
    arbitrary: fc.nat(READERS - 1).map((reader) => ({ kind: "unfollow" as const, reader })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("push" as const),
      reader: fc.nat(READERS - 1),
      size: fc.integer({ min: 0, max: 300 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: "pass" as const }) },
  {
    weight: 4,
    arbitrary: fc.nat(READERS - 1).map((reader) => ({ kind: "complete" as const, reader })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "tick" as const }) },
);

interface Reader {
  readonly writer: ManualWriter;
  readonly queue: OutboundQueue;
  following: boolean;
  /** What it must get, in order: the model. */
  readonly expected: Uint8Array[];
}

Deno.test("BroadcastLog - property: readers following and leaving at any point get exactly the payloads appended meanwhile, private frames in place, in bounded memory", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { maxLength: 80, size: "max" }), async (commands) => {
      const log = new BroadcastLog();
      const readers: Reader[] = Array.from({ length: READERS }, () => {
        const writer = new ManualWriter();
        const queue = new OutboundQueue(writer, {
          writeFailed(error) {
            throw new Error(`unexpected write failure: ${error}`);
          },
        });
        return { writer, queue, following: false, expected: [] };
      });
      let seq = 0;
      let largestFrame = 0;
      /** A pass, as the hub makes one: a write for each reader due frames, then a release. */
      const pass = (what: string) => {
        let oldest = log.head;
        for (const reader of readers) {
          if (!reader.following) continue;
          reader.queue.writeLog();
          const unwritten = reader.queue.unwritten(log);
          assert.ok(unwritten !== undefined, `${what}: a follower has no position`);
          oldest = Math.min(oldest, unwritten);
        }
        log.release(oldest);
        assertBounded(log, oldest, largestFrame, what);
      };
      for (const [i, c] of commands.entries()) {
        const what = `command ${i} (${c.kind})`;
        switch (c.kind) {
          case "append": {
            const p = payload(seq++, c.size);
            log.append(p);
            largestFrame = Math.max(largestFrame, frameSize(c.size));
            for (const reader of readers) if (reader.following) reader.expected.push(p);
            break;
          }
          case "follow": {
            const reader = readers[c.reader];
            if (reader.following) break;
            reader.queue.follow(log);
            reader.following = true;
            break;
          }
          case "unfollow": {
            // What the log held up to now is still written; nothing later is for it.
            readers[c.reader].queue.unfollow();
            readers[c.reader].following = false;
            break;
          }
          case "push": {
            // Private frames: a pattern the log's payloads do not start with.
            const p = payload(0x7f000000 + seq++, c.size);
            readers[c.reader].queue.push(p);
            readers[c.reader].expected.push(p);
            break;
          }
          case "pass":
            pass(what);
            break;
          case "complete":
            readers[c.reader].writer.current?.resolve();
            await settle();
            break;
          case "tick":
            await settle();
            break;
        }
        for (const [r, reader] of readers.entries()) {
          assert.ok(
            reader.writer.maxInFlight <= 1,
            `${what}: reader ${r} had two writes in flight`,
          );
          if (!reader.following) continue;
          const unwritten = reader.queue.unwritten(log)!;
          assert.ok(
            log.tail <= unwritten && unwritten <= log.head,
            `${what}: reader ${r} at ${unwritten}, the log holds ${log.tail}..${log.head}`,
          );
          assert.ok(reader.queue.pendingBytes >= log.head - unwritten, `${what}: reader ${r} lag`);
        }
      }
      // Then passes and writes until every reader has been written everything.
      const done = () =>
        readers.every((reader) =>
          reader.writer.current === undefined && reader.queue.isDrained &&
          (!reader.following || reader.queue.unwritten(log) === log.head)
        );
      for (let round = 0; !done(); round++) {
        assert.ok(round < 10, "the readers never caught up");
        pass(`final pass ${round}`);
        await settle();
        for (const reader of readers) reader.writer.current?.resolve();
        await settle();
      }
      for (const [r, reader] of readers.entries()) {
        assertPayloads(reader.writer.payloads(), reader.expected, `reader ${r}`);
        assert.equal(reader.queue.pendingBytes, 0);
      }
      // Everyone has read everything: one segment is left.
      pass("the last pass");
      assert.ok(log.retainedBytes <= SEGMENT, `${log.retainedBytes} bytes retained at the end`);
    }),
    { numRuns: 200 },
  );
});

Deno.test("BroadcastLog - logs sharing an AppendOrder give a reader of several their frames in the order appended", () => {
  fc.assert(
    fc.property(
      // Which of three logs each append goes to, its size, and from which append on it is read.
      fc.array(fc.tuple(fc.nat(2), fc.integer({ min: 8, max: 9000 })), { maxLength: 200 }),
      fc.nat(200),
      (appends, startAt) => {
        const order = new AppendOrder();
        // Small first segments, so that runs cross them.
        const logs = [0, 1, 2].map(() => new BroadcastLog(() => {}, 4096, order));
        const from = logs.map((log) => log.head);
        const expected: number[] = [];
        appends.forEach(([which, size], n) => {
          if (n === startAt) logs.forEach((log, i) => from[i] = log.head);
          const content = new Uint8Array(size).fill(0x2e);
          content.set(new TextEncoder().encode(`${n}|`));
          logs[which].append(content);
          if (n >= startAt) expected.push(n);
        });
        if (startAt >= appends.length) logs.forEach((log, i) => from[i] = log.head);
        const views: Uint8Array[] = [];
        BroadcastLog.mergedViews(logs.map((log, i) => ({ log, from: from[i] })), views);
        const got = views.flatMap((view) => framedPayloads(view)).map((frame) =>
          Number(new TextDecoder().decode(frame.subarray(0, frame.indexOf(0x7c))))
        );
        assert.deepEqual(got, expected);
      },
    ),
    { numRuns: 300 },
  );
});
