import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  Action,
  ErrorCode,
  type ServerMessage,
  ServerMessageSchema,
} from "../../gen/chat/v1/chat_pb.ts";
import { Outbox, type OutboxOptions } from "../../lib/client/outbox.ts";
import type { ClientMessageInit } from "../../lib/protocol/codec.ts";
import { errorMessage } from "../../lib/protocol/error_message.ts";
import { deadline } from "../support/deadline.ts";

const OWN_ID = 7n;

const chat = (seq: number): ClientMessageInit => ({
  body: {
    case: "chat",
    value: { content: `m${seq}`, action: Action.BROADCAST, clientSeq: BigInt(seq) },
  },
});
const who: ClientMessageInit = { body: { case: "who", value: {} } };
const delivered = (seq: number): ServerMessage =>
  create(ServerMessageSchema, {
    body: {
      case: "chat",
      value: { content: `m${seq}`, fromSessionId: OWN_ID, clientSeq: BigInt(seq) },
    },
  });
const refused = (seq: number): ServerMessage =>
  create(ServerMessageSchema, errorMessage(ErrorCode.RATE_LIMITED, "Too fast", BigInt(seq)));

/** What an outbox writes (`m1`, `who`...) and when, and what it says it sent. */
function outbox(options: Partial<OutboxOptions>) {
  const written: string[] = [];
  const writtenAt: number[] = [];
  const sent: string[] = [];
  let wake: (() => void) | undefined;
  const name = (message: ClientMessageInit) =>
    message.body?.case === "chat" ? message.body.value.content! : message.body!.case!;
  const box = new Outbox({
    ratePerSecond: 0,
    burst: 0,
    resendBackoff: { initialMs: 1, maxMs: 1 },
    ...options,
    write(message) {
      written.push(name(message));
      writtenAt.push(performance.now());
      wake?.();
    },
    sent: (message) => sent.push(name(message)),
  });
  const writes = async (count: number) => {
    const reached = (async () => {
      while (written.length < count) await new Promise<void>((resolve) => wake = resolve);
    })();
    await deadline(reached, 5_000, () => `${count} writes; written: ${written.join(" ")}`);
  };
  return { box, written, writtenAt, sent, writes };
}

Deno.test("Outbox - sends the advertised burst at once, then no faster than the rate", async () => {
  const { box, written, writtenAt, writes } = outbox({ ratePerSecond: 50, burst: 3 });
  using _box = box;
  for (let seq = 1; seq <= 6; seq++) box.push(chat(seq));
  assert.deepEqual(written, ["m1", "m2", "m3"]);
  await writes(6);
  assert.deepEqual(written, ["m1", "m2", "m3", "m4", "m5", "m6"]);
  // Three tokens at 50 per second take 60 ms at the least.
  assert.ok(writtenAt[5] - writtenAt[2] >= 59, `${writtenAt[5] - writtenAt[2]} ms`);
});

Deno.test("Outbox - nothing overtakes a chat line waiting for a token", () => {
  const { box, written } = outbox({ ratePerSecond: 1, burst: 1 });
  using _box = box;
  box.push(chat(1));
  box.push(chat(2));
  box.push(who);
  assert.deepEqual(written, ["m1"]);
  assert.equal(box.unsent, 2);
});

Deno.test("Outbox - a refused line goes again before anything behind it, one at a time, unseen", async () => {
  const { box, written, sent, writes } = outbox({});
  using _box = box;
  box.push(chat(1));
  box.push(chat(2));
  assert.equal(box.receive(refused(1), OWN_ID), true, "the refusal is the outbox's business");
  box.push(chat(3));
  box.push(who);
  assert.equal(box.receive(delivered(2), OWN_ID), false);
  await writes(3);
  assert.deepEqual(written, ["m1", "m2", "m1"]);
  // Without advertised limits, only one line at a time is in flight from now on.
  assert.equal(box.unsent, 2);
  assert.equal(box.receive(delivered(1), OWN_ID), false);
  assert.deepEqual(written, ["m1", "m2", "m1", "m3"]);
  box.receive(delivered(3), OWN_ID);
  assert.deepEqual(written, ["m1", "m2", "m1", "m3", "who"]);
  assert.deepEqual(sent, ["m1", "m2", "m3", "who"], "a resend is not a new request");
});

Deno.test("Outbox - after maxResends the refusal is passed on, and the next line goes", async () => {
  const { box, written, writes } = outbox({ maxResends: 2 });
  using _box = box;
  box.push(chat(1));
  for (let resend = 1; resend <= 2; resend++) {
    assert.equal(box.receive(refused(1), OWN_ID), true);
    await writes(1 + resend);
  }
  assert.equal(box.receive(refused(1), OWN_ID), false, "given up: the caller shows it");
  box.push(chat(2));
  assert.deepEqual(written, ["m1", "m1", "m1", "m2"]);
});

Deno.test("Outbox - messages about others, or not about a line in flight, are not its business", () => {
  const { box } = outbox({});
  using _box = box;
  box.push(chat(1));
  const fromOther = create(ServerMessageSchema, {
    body: { case: "chat", value: { fromSessionId: 99n, clientSeq: 1n } },
  });
  assert.equal(box.receive(fromOther, OWN_ID), false);
  assert.equal(box.receive(refused(5), OWN_ID), false);
  assert.equal(
    box.receive(create(ServerMessageSchema, errorMessage(ErrorCode.RATE_LIMITED, "x")), OWN_ID),
    false,
  );
});
