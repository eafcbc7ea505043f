import assert from "node:assert/strict";
import { Action, ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import {
  decodeServerMessage,
  encodeServerMessage,
  type ServerMessageInit,
} from "../../lib/protocol/codec.ts";
import { varint } from "../../lib/protocol/varint.ts";
import type { ReceiveHandlers, Transport } from "../../lib/net/transport.ts";
import { Hub } from "../../lib/server/hub.ts";
import { Session, type SessionLimits } from "../../lib/server/session.ts";
import { payloadsOf, settle } from "../support/manual_writer.ts";
import { realClock } from "../../lib/util/clock.ts";

/**
 * A transport that records what is written and what is done to it. Its writes complete at
 * once, or, when `stalled`, only when the test completes them.
 */
class FakeTransport implements Transport {
  readonly kind = "tcp";
  readonly peer = "127.0.0.1:40000";
  readonly remoteHostname = "127.0.0.1";
  readonly encrypted = false;
  readonly bytesRead = 0;
  bytesWritten = 0;
  readonly hasPartialFrame = false;
  /** "write", "closeWrite" and "close", in the order they came. */
  readonly calls: string[] = [];
  /** The payloads of each write, in order. */
  readonly writes: Uint8Array[][] = [];
  #stalled: PromiseWithResolvers<void> | undefined;
  readonly #closed = Promise.withResolvers<void>();

  constructor(readonly stalled: boolean) {}

  receive(_handlers: ReceiveHandlers): Promise<void> {
    return this.#closed.promise;
  }

  write(framed: readonly Uint8Array[]): Promise<void> {
    assert.equal(this.#stalled, undefined, "two writes in flight");
    this.calls.push("write");
    // Log views stay as they are: the log is append-only.
    this.writes.push(payloadsOf(framed));
    this.bytesWritten += framed.reduce((n, run) => n + run.length, 0);
    if (!this.stalled) return Promise.resolve();
    this.#stalled = Promise.withResolvers();
    return this.#stalled.promise;
  }

  /** Completes the write in flight; false when there is none. */
  complete(): boolean {
    const stalled = this.#stalled;
    if (stalled === undefined) return false;
    this.#stalled = undefined;
    stalled.resolve();
    return true;
  }

  closeWrite(): Promise<void> {
    this.calls.push("closeWrite");
    return Promise.resolve();
  }

  close(): void {
    this.calls.push("close");
    this.#closed.resolve();
  }
}

const limits: SessionLimits = {
  maxQueueBytes: 4000,
  writeTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  frameTimeoutMs: 60_000,
  closeTimeoutMs: 5_000,
  rateLimitPerSecond: 0,
  rateBurst: 0,
  renameLimitPerMinute: 0,
};

/** A session of `hub`, which leaves it as it starts to close (as ServedSession does). */
function member(hub: Hub, id: bigint, transport: FakeTransport) {
  const delivered: (number | undefined)[] = [];
  const session: Session = new Session(id, `user-${id}`, transport, limits, {
    frame() {},
    framingError() {},
    closing: () => hub.leave(session),
  });
  // What the hub's passes get from deliver().
  const deliver = session.deliver.bind(session);
  session.deliver = (now, log) => {
    const unwritten = deliver(now, log);
    delivered.push(unwritten);
    return unwritten;
  };
  hub.join(session);
  return { session, transport, delivered };
}

/** The bytes a frame of `length` payload bytes takes in the log. */
const frameSize = (length: number) => varint.size(length) + length;

/** A chat broadcast of about 300 bytes, numbered. */
function chat(n: number): ServerMessageInit {
  return {
    body: {
      case: "chat",
      value: {
        action: Action.BROADCAST,
        content: `${n} `.padEnd(300, "x"),
        fromSessionId: 9n,
        fromNickname: "publisher",
        clientSeq: BigInt(n),
        sentAtUnixMs: 0n,
      },
    },
  };
}

/** The numbers of the chat broadcasts among `payloads`, in order. */
function chats(payloads: Uint8Array[]): number[] {
  return payloads.map(decodeServerMessage).flatMap((message) =>
    message.body.case === "chat" ? [Number(message.body.value.clientSeq)] : []
  );
}

Deno.test("Session - one lagging past maxQueueBytes on the log is cut as a slow consumer at the hub's pass, one keeping up is not", async () => {
  using hub = new Hub();
  const slow = member(hub, 1n, new FakeTransport(true));
  const fast = member(hub, 2n, new FakeTransport(false));
  hub.flush();
  // The slow one's first write (the fast one's arrival) never completes on its own.
  assert.equal(slow.transport.writes.length, 1);
  let sent = 0;
  let cutAt: number | undefined;
  while (cutAt === undefined) {
    assert.ok(sent < 100, "never cut");
    hub.broadcast(chat(sent++));
    // Broadcasts cost a session nothing until the pass: it is cut there, not here.
    assert.equal(slow.session.isClosing, false);
    const passes = slow.delivered.length;
    hub.flush();
    assert.equal(slow.delivered.length, passes + 1);
    if (slow.delivered.at(-1) === undefined) cutAt = sent;
    // The fast one's writes complete, and it keeps up.
    await settle();
    assert.equal(fast.session.isClosing, false);
    assert.notEqual(fast.delivered.at(-1), undefined);
  }
  // Cut at the first pass where what it lags (the arrival in flight, then the broadcasts)
  // passes the limit: not before, not later.
  const joined = frameSize(slow.transport.writes[0][0].length);
  const broadcast = frameSize(encodeServerMessage(chat(0)).length);
  let expected = 1;
  while (joined + expected * broadcast <= limits.maxQueueBytes) expected++;
  assert.equal(cutAt, expected);
  assert.equal(slow.session.isClosing, true);
  assert.equal(hub.online, 1);
  // Once cut, passes skip it.
  hub.broadcast(chat(sent++));
  hub.flush();
  assert.equal(slow.delivered.at(-1), undefined);
  // The fast one got every broadcast, in order, and far more than maxQueueBytes in all.
  await settle();
  hub.flush();
  await settle();
  assert.deepEqual(chats(fast.transport.writes.flat()), Array.from({ length: sent }, (_, i) => i));
  assert.ok(fast.transport.bytesWritten > limits.maxQueueBytes);
  assert.deepEqual(fast.transport.calls.filter((call) => call !== "write"), []);

  // The slow one's stalled write ends; then it gets the notice, alone, and is closed.
  for (let i = 0; i < 10 && !slow.transport.calls.includes("close"); i++) {
    slow.transport.complete();
    await settle();
  }
  await slow.session.end("again");
  assert.deepEqual(slow.transport.calls, ["write", "write", "closeWrite", "close"]);
  const notice = slow.transport.writes[1].map(decodeServerMessage);
  assert.equal(notice.length, 1);
  assert.equal(notice[0].body.case, "error");
  const error = notice[0].body.value as { code: ErrorCode; fatal: boolean };
  assert.equal(error.code, ErrorCode.SLOW_CONSUMER);
  assert.equal(error.fatal, true);
  // None of the broadcasts it lagged were written: they were dropped with the cut.
  assert.deepEqual(chats(slow.transport.writes.flat()), []);
});

Deno.test("Session - one lagging within maxQueueBytes is not cut, and gets every broadcast in order once it catches up", async () => {
  using hub = new Hub();
  const lagging = member(hub, 1n, new FakeTransport(true));
  hub.flush();
  // Under the limit: about 10 frames of 320 bytes behind a stalled write.
  const count = Math.floor(limits.maxQueueBytes / 400);
  for (let n = 0; n < count; n++) {
    hub.broadcast(chat(n));
    hub.flush();
    assert.notEqual(lagging.delivered.at(-1), undefined);
  }
  // Its first write stalled: nothing since was written yet.
  assert.equal(lagging.transport.writes.length, 1);
  assert.equal(lagging.session.isClosing, false);
  // A private frame goes behind the broadcasts it is due.
  lagging.session.send(new Uint8Array(0));
  for (let i = 0; i < 10 && lagging.transport.complete(); i++) {
    await settle();
    hub.flush();
  }
  const payloads = lagging.transport.writes.flat();
  assert.deepEqual(chats(payloads), Array.from({ length: count }, (_, i) => i));
  assert.equal(payloads.at(-1)!.length, 0, "the private frame comes last");
  assert.equal(lagging.session.isClosing, false);
  assert.deepEqual(lagging.transport.calls.filter((call) => call !== "write"), []);
});

Deno.test("Session - no idle deadline runs while the hub holds reads back", async () => {
  const transport = new FakeTransport(false);
  const idleLimits = { ...limits, idleTimeoutMs: 1_000 };
  const session = new Session(1n, "guest-1", transport, idleLimits, {
    frame() {},
    framingError() {},
    closing() {},
  });
  const start = realClock.now();
  // Reads were held until 1.5 s in: the client could not be heard before then.
  session.enforceDeadlines(start + 2_000, start + 1_500);
  assert.equal(session.isClosing, false, "silent for 0.5 s since reads resumed");
  session.enforceDeadlines(start + 2_600, start + 1_500);
  assert.equal(session.isClosing, true, "silent for 1.1 s since reads resumed");
  transport.close();
  await settle();
});
