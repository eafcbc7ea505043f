import assert from "node:assert/strict";
import fc from "fast-check";
import { Action, type ClientMessage } from "../../gen/chat/v1/chat_pb.ts";
import { decodeClientMessage, encodeClientMessage } from "../../lib/protocol/codec.ts";
import { FrameTooLargeError } from "../../lib/protocol/errors.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../../lib/protocol/limits.ts";

const NUM_RUNS = 200;

/** Cuts `bytes` at the given offsets (any order, duplicates and out-of-range values allowed). */
function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point <= start) continue;
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

/** How to cut a byte stream into reads. */
type Chunking = { kind: "cuts"; cuts: number[] } | { kind: "every"; size: number };

const chunkingArb: fc.Arbitrary<Chunking> = fc.oneof(
  fc.record({ kind: fc.constant("cuts" as const), cuts: fc.array(fc.nat(), { maxLength: 40 }) }),
  fc.record({ kind: fc.constant("every" as const), size: fc.integer({ min: 1, max: 7 }) }),
);

function chunk(bytes: Uint8Array, chunking: Chunking): Uint8Array[] {
  if (chunking.kind === "cuts") return splitAt(bytes, chunking.cuts);
  const chunks: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += chunking.size) {
    chunks.push(bytes.subarray(start, start + chunking.size));
  }
  return chunks;
}

/** A payload of `length` bytes with a cheap, seed-dependent pattern. */
function patterned(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

const payloadArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: fc.constant(new Uint8Array(0)), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 5 },
  // Around the 1-byte / 2-byte varint boundary (128).
  { arbitrary: fc.uint8Array({ minLength: 120, maxLength: 140 }), weight: 2 },
  // Around and past the 2-byte / 3-byte varint boundary (16384).
  {
    arbitrary: fc.tuple(fc.integer({ min: 16_380, max: 40_000 }), fc.nat(255))
      .map(([length, seed]) => patterned(length, seed)),
    weight: 1,
  },
);

/** Any Unicode scalar value (no surrogates), spread over 1- to 4-byte UTF-8 lengths. */
const codePointArb: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0, max: 0x7ff }),
  fc.integer({ min: 0x800, max: 0xffff }),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
).filter((code) => code < 0xd800 || code > 0xdfff).map((code) => String.fromCodePoint(code));

/** Feeds every chunk to a decoder and returns copies of the payloads it delivered. */
function decodeAll(decoder: FrameDecoder, chunks: readonly Uint8Array[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (const piece of chunks) decoder.push(piece, (payload) => frames.push(payload.slice()));
  return frames;
}

Deno.test("FrameDecoder - decodes any messages split at any byte boundaries", () => {
  fc.assert(
    fc.property(fc.array(payloadArb, { maxLength: 8 }), chunkingArb, (payloads, chunking) => {
      const decoder = new FrameDecoder(1 << 20);
      const frames = decodeAll(decoder, chunk(encodeFrames(payloads), chunking));
      assert.deepEqual(frames, payloads);
      assert.equal(decoder.hasPartialFrame, false);
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("FrameDecoder - hasPartialFrame is false exactly at frame boundaries", () => {
  fc.assert(
    fc.property(fc.array(payloadArb, { maxLength: 6 }), chunkingArb, (payloads, chunking) => {
      const boundaries = new Set([0]);
      let end = 0;
      for (const payload of payloads) {
        end += encodeFrames([payload]).length;
        boundaries.add(end);
      }
      const decoder = new FrameDecoder(1 << 20);
      let offset = 0;
      let delivered = 0;
      for (const piece of chunk(encodeFrames(payloads), chunking)) {
        decoder.push(piece, () => delivered++);
        offset += piece.length;
        assert.equal(decoder.hasPartialFrame, !boundaries.has(offset), `at offset ${offset}`);
        // Every frame that ends within what was pushed has been delivered.
        assert.equal(delivered, [...boundaries].filter((b) => b > 0 && b <= offset).length);
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("FrameDecoder - decodes messages fed one byte at a time", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (payloads) => {
      const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
      const frames = decodeAll(decoder, chunk(encodeFrames(payloads), { kind: "every", size: 1 }));
      assert.deepEqual(frames, payloads);
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("FrameDecoder - decodes a frame with a 4-byte length prefix", () => {
  const payload = patterned(2 ** 21 + 3, 7);
  const encoded = encodeFrames([payload, new Uint8Array([1])]);
  assert.deepEqual([...encoded.subarray(0, 4)], [0x83, 0x80, 0x80, 0x01]);
  const frames = decodeAll(new FrameDecoder(2 ** 22), splitAt(encoded, [2, 1000, 2 ** 20]));
  assert.deepEqual(frames, [payload, new Uint8Array([1])]);
});

Deno.test("FrameDecoder - real protobuf messages survive framing and splitting", () => {
  const wellFormed = fc.string({ unit: "grapheme", maxLength: 60 });
  const chatArb = fc.record({
    content: fc.oneof(wellFormed, fc.string({ unit: codePointArb, maxLength: 60 })),
    action: fc.constantFrom(Action.ECHO, Action.BROADCAST),
    clientSeq: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  });
  fc.assert(
    fc.property(fc.array(chatArb, { minLength: 1, maxLength: 10 }), chunkingArb, (chats, how) => {
      const encoded = encodeFrames(
        chats.map((value) => encodeClientMessage({ body: { case: "chat", value } })),
      );
      const decoded: ClientMessage[] = [];
      const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
      for (const piece of chunk(encoded, how)) {
        decoder.push(piece, (payload) => decoded.push(decodeClientMessage(payload)));
      }
      assert.equal(decoded.length, chats.length);
      decoded.forEach((message, i) => {
        assert.equal(message.body.case, "chat");
        const value = message.body.value!;
        assert.equal(value.content, chats[i].content);
        assert.equal(value.action, chats[i].action);
        assert.equal(value.clientSeq, chats[i].clientSeq);
      });
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("FrameDecoder - a length over the limit throws as soon as the prefix is complete", () => {
  const prefix = encodeFrames([new Uint8Array(70_000)]).subarray(0, 3);
  assert.deepEqual([...prefix], [0xf0, 0xa2, 0x04]);
  const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
  const onFrame = () => assert.fail("no frame expected");
  decoder.push(prefix.subarray(0, 2), onFrame);
  assert.throws(
    () => decoder.push(prefix.subarray(2), onFrame),
    (error) => {
      assert.ok(error instanceof FrameTooLargeError);
      assert.equal(error.message, "Cannot parse frame: length 70000 exceeds 65536 bytes");
      return true;
    },
  );
});

Deno.test("FrameDecoder - a length prefix over 5 bytes throws", () => {
  assert.throws(
    () => new FrameDecoder(DEFAULT_MAX_FRAME_BYTES).push(new Uint8Array(6).fill(0xff), () => {}),
    (error) => {
      assert.ok(error instanceof FrameTooLargeError);
      assert.equal(error.message, "Cannot parse frame: length prefix exceeds 5 bytes");
      return true;
    },
  );
  // Five continuation bytes already prove the prefix is too long.
  const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
  decoder.push(new Uint8Array(4).fill(0xff), () => {});
  assert.throws(() => decoder.push(new Uint8Array([0xff]), () => {}), FrameTooLargeError);
});

Deno.test("FrameDecoder - a 5-byte prefix announcing a huge length throws FrameTooLargeError", () => {
  const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
  assert.throws(
    () => decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x7f]), () => {}),
    {
      name: "FrameTooLargeError",
      message: `Cannot parse frame: length ${2 ** 35 - 1} exceeds 65536 bytes`,
    },
  );
});

Deno.test("FrameDecoder - zero-length frames are delivered as empty payloads", () => {
  const frames = decodeAll(new FrameDecoder(DEFAULT_MAX_FRAME_BYTES), [
    new Uint8Array([0x00, 0x00, 0x01, 0x2a, 0x00]),
    new Uint8Array([0x00]),
  ]);
  assert.deepEqual(frames, [
    new Uint8Array(0),
    new Uint8Array(0),
    new Uint8Array([0x2a]),
    new Uint8Array(0),
    new Uint8Array(0),
  ]);
});

Deno.test("FrameDecoder - hasPartialFrame is true mid-frame and false at frame boundaries", () => {
  const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
  const frames: Uint8Array[] = [];
  const onFrame = (payload: Uint8Array) => frames.push(payload.slice());
  assert.equal(decoder.hasPartialFrame, false);
  const encoded = encodeFrames([new Uint8Array(200).fill(9), new Uint8Array([1, 2])]);
  // Half of the 2-byte prefix.
  decoder.push(encoded.subarray(0, 1), onFrame);
  assert.equal(decoder.hasPartialFrame, true);
  // The rest of the prefix, no payload yet.
  decoder.push(encoded.subarray(1, 2), onFrame);
  assert.equal(decoder.hasPartialFrame, true);
  decoder.push(encoded.subarray(2, 100), onFrame);
  assert.equal(decoder.hasPartialFrame, true);
  // The end of the first frame exactly.
  decoder.push(encoded.subarray(100, 202), onFrame);
  assert.equal(frames.length, 1);
  assert.equal(decoder.hasPartialFrame, false);
  // The second frame's prefix and one of its two bytes.
  decoder.push(encoded.subarray(202, 204), onFrame);
  assert.equal(decoder.hasPartialFrame, true);
  decoder.push(encoded.subarray(204), onFrame);
  assert.equal(decoder.hasPartialFrame, false);
  assert.deepEqual(frames, [new Uint8Array(200).fill(9), new Uint8Array([1, 2])]);
});

Deno.test("FrameDecoder - a frame of exactly maxFrameBytes is accepted", () => {
  const payload = patterned(DEFAULT_MAX_FRAME_BYTES, 3);
  const encoded = encodeFrames([payload]);
  assert.deepEqual(
    decodeAll(new FrameDecoder(DEFAULT_MAX_FRAME_BYTES), [encoded]),
    [payload],
  );
  assert.deepEqual(
    decodeAll(new FrameDecoder(DEFAULT_MAX_FRAME_BYTES), splitAt(encoded, [1, 3, 40_000])),
    [payload],
  );
  assert.throws(
    () => new FrameDecoder(DEFAULT_MAX_FRAME_BYTES - 1).push(encoded, () => {}),
    FrameTooLargeError,
  );
});

Deno.test("encodeFrames - prefixes each payload with its length as a varint", () => {
  assert.deepEqual([...encodeFrames([])], []);
  assert.deepEqual([...encodeFrames([new Uint8Array(0)])], [0x00]);
  assert.deepEqual([...encodeFrames([new Uint8Array([5, 6])])], [0x02, 5, 6]);
  assert.deepEqual([...encodeFrames([new Uint8Array(127)]).subarray(0, 1)], [0x7f]);
  assert.deepEqual([...encodeFrames([new Uint8Array(128)]).subarray(0, 2)], [0x80, 0x01]);
  assert.deepEqual([...encodeFrames([new Uint8Array(300)]).subarray(0, 2)], [0xac, 0x02]);
  assert.deepEqual(
    [...encodeFrames([new Uint8Array(16_384)]).subarray(0, 3)],
    [0x80, 0x80, 0x01],
  );
  assert.equal(encodeFrames([new Uint8Array(16_384)]).length, 16_387);
});
