import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { ClientMessageSchema, ServerMessageSchema } from "../../gen/chat/v1/chat_pb.ts";
import {
  decodeClientMessage,
  encodeClientMessage,
  encodeServerMessage,
} from "../../lib/protocol/codec.ts";
import { MalformedMessageError } from "../../lib/protocol/errors.ts";
import { readChatRequest } from "../../lib/protocol/chat_request_reader.ts";
import { chatEventFrame, writeChatEvent } from "../../lib/protocol/chat_event_writer.ts";

const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const text = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.constant("\uFEFFstarts with a byte order mark"),
  fc.constant("x".repeat(200)),
);

Deno.test("codec fast path - chat events encode to the very bytes protobuf-es writes", () => {
  fc.assert(
    fc.property(
      fc.record({
        action: fc.integer({ min: 0, max: 5 }),
        content: text,
        fromSessionId: uint64,
        fromNickname: text,
        clientSeq: uint64,
        sentAtUnixMs: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        room: fc.oneof(fc.constant(""), text),
        eventId: uint64,
        history: fc.boolean(),
        toNickname: fc.oneof(fc.constant(""), text),
      }),
      (event) => {
        const message = { body: { case: "chat" as const, value: event } };
        const expected = toBinary(ServerMessageSchema, create(ServerMessageSchema, message));
        assert.deepEqual(encodeServerMessage(message), expected);
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("codec fast path - a stored chat event framed with its id and history flag decodes as the event", () => {
  fc.assert(
    fc.property(
      fc.record({
        action: fc.integer({ min: 0, max: 2 }),
        content: text,
        fromSessionId: uint64,
        fromNickname: text,
        clientSeq: uint64,
        sentAtUnixMs: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        room: text,
      }),
      uint64,
      fc.boolean(),
      (event, eventId, history) => {
        const stored = writeChatEvent(event);
        assert.ok(stored !== undefined);
        const framed = fromBinary(ServerMessageSchema, chatEventFrame(stored, eventId, history));
        const expected = create(ServerMessageSchema, {
          body: { case: "chat", value: { ...event, eventId, history } },
        });
        assert.deepEqual(framed, expected);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("codec fast path - chat requests decode as protobuf-es decodes them", () => {
  fc.assert(
    fc.property(
      fc.record({
        content: text,
        action: fc.integer({ min: 0, max: 5 }),
        clientSeq: uint64,
        room: fc.oneof(fc.constant(""), text),
        toNickname: fc.oneof(fc.constant(""), text),
      }),
      (chat) => {
        const payload = encodeClientMessage({ body: { case: "chat", value: chat } });
        assert.ok(readChatRequest(payload) !== undefined, "our own requests take the fast path");
        assert.deepEqual(
          decodeClientMessage(payload),
          fromBinary(ClientMessageSchema, payload, { readUnknownFields: false }),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("codec fast path - any payload decodes as protobuf-es decodes it, or fails the same", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (tail) => {
      // Most start like a chat request, so the fast path sees odd fields, lengths and bytes.
      const payload = new Uint8Array([0x12, tail.length, ...tail]);
      let expected: unknown;
      try {
        expected = fromBinary(ClientMessageSchema, payload, { readUnknownFields: false });
      } catch {
        expected = MalformedMessageError;
      }
      let actual: unknown;
      try {
        actual = decodeClientMessage(payload);
      } catch (error) {
        assert.ok(error instanceof MalformedMessageError);
        actual = MalformedMessageError;
      }
      assert.deepEqual(actual, expected);
    }),
    { numRuns: 5000 },
  );
});

Deno.test("codec fast path - invalid UTF-8 in a chat request is MALFORMED", () => {
  const payload = new Uint8Array([0x12, 0x04, 0x0a, 0x02, 0xc3, 0x28]);
  assert.equal(readChatRequest(payload), undefined);
  assert.throws(() => decodeClientMessage(payload), MalformedMessageError);
});
