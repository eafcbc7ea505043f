import { allocateBytes } from "../../lib/protocol/allocate_bytes.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { ClusterUser } from "../../lib/server/backplane.ts";
import {
  decodeStreamEntry,
  encodeStreamEntry,
  type StreamEntry,
} from "../../lib/server/redis/stream_entry.ts";

const ORIGIN = "3f6c2a9e-token";
const NODE = 7;
const BIG = 2n ** 53n + 12345n;

/** What XREAD gives back for the fields XADD got: every field as a Buffer of its own. */
function asRead(fields: (string | Buffer)[]): Buffer[] {
  return fields.map((field) => typeof field === "string" ? Buffer.from(field) : Buffer.from(field));
}

function roundTrip(entry: StreamEntry): StreamEntry {
  return decodeStreamEntry(asRead(encodeStreamEntry(entry)));
}

function user(sessionId: bigint, nickname: string, joinedAt: number): ClusterUser {
  return { sessionId, nickname, node: NODE, joinedAt };
}

function entry(body: StreamEntry["body"], seq = 42): StreamEntry {
  return { origin: ORIGIN, node: NODE, seq, body };
}

/** A chat entry's payload as a plain array, whatever view it came in. */
function chatBytes(decoded: StreamEntry): number[] {
  assert.equal(decoded.body.kind, "chat");
  return [...decoded.body.payload];
}

Deno.test("Stream entry - chat is sent as raw bytes", () => {
  const payload = new Uint8Array([0x00, 0xff, 0x0a, 0x80, 0x22, 0x00]);
  const fields = encodeStreamEntry(entry({ kind: "chat", payload }));
  assert.deepEqual(fields.slice(0, 8), ["o", ORIGIN, "n", "7", "q", "42", "t", "c"]);
  assert.equal(fields.length, 10);
  assert.equal(fields[8], "d");
  const data = fields[9];
  assert.ok(Buffer.isBuffer(data));
  assert.deepEqual([...data], [...payload]);
});

Deno.test("Stream entry - chat round-trips arbitrary bytes", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  for (
    const payload of [
      new Uint8Array([0x00, 0xff, 0x00, 0xff]),
      all,
      new Uint8Array([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1]), // Not UTF-8.
      new Uint8Array(0),
      new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff),
    ]
  ) {
    const decoded = roundTrip(entry({ kind: "chat", payload }));
    assert.equal(decoded.origin, ORIGIN);
    assert.equal(decoded.node, NODE);
    assert.equal(decoded.seq, 42);
    assert.deepEqual(chatBytes(decoded), [...payload]);
  }
});

Deno.test("Stream entry - chat encodes only the view's bytes of a larger buffer", () => {
  const backing = new Uint8Array([9, 9, 9, 0x00, 0xff, 0x01, 9, 9]);
  const payload = backing.subarray(3, 6);
  const fields = encodeStreamEntry(entry({ kind: "chat", payload }));
  assert.deepEqual([...(fields[9] as Buffer)], [0x00, 0xff, 0x01]);
  assert.deepEqual(chatBytes(roundTrip(entry({ kind: "chat", payload }))), [0x00, 0xff, 0x01]);
});

Deno.test("Stream entry - a chat payload read from a shared buffer keeps to its own bytes", () => {
  // ioredis may hand out Buffers that are views into a bigger one.
  const fields = asRead(encodeStreamEntry(entry({ kind: "chat", payload: new Uint8Array([1]) })));
  const pool = Buffer.from([7, 7, 0x00, 0xff, 7, 7]);
  fields[9] = pool.subarray(2, 4);
  assert.deepEqual(chatBytes(decodeStreamEntry(fields)), [0x00, 0xff]);
});

Deno.test("Stream entry - joined round-trips, with its fields as XADD gets them", () => {
  const joined = user(BIG, "Zoë", 1_700_000_000_123);
  const fields = encodeStreamEntry(entry({ kind: "joined", user: joined }));
  assert.deepEqual(fields, [
    "o",
    ORIGIN,
    "n",
    "7",
    "q",
    "42",
    "t",
    "j",
    "d",
    JSON.stringify({ s: String(BIG), n: "Zoë", t: 1_700_000_000_123 }),
  ]);
  assert.deepEqual(roundTrip(entry({ kind: "joined", user: joined })), {
    origin: ORIGIN,
    node: NODE,
    seq: 42,
    body: { kind: "joined", user: joined },
  });
});

Deno.test("Stream entry - a joined user's node is the entry's", () => {
  const decoded = roundTrip({
    origin: ORIGIN,
    node: 12,
    seq: 1,
    body: { kind: "joined", user: { ...user(5n, "a", 1), node: 12 } },
  });
  assert.equal(decoded.body.kind, "joined");
  assert.equal(decoded.body.user.node, 12);
});

Deno.test("Stream entry - left round-trips a session id beyond 2^53", () => {
  const fields = encodeStreamEntry(entry({ kind: "left", sessionId: BIG }));
  assert.deepEqual(fields.slice(6), ["t", "l", "d", String(BIG)]);
  assert.deepEqual(
    roundTrip(entry({ kind: "left", sessionId: BIG })),
    entry({
      kind: "left",
      sessionId: BIG,
    }),
  );
});

Deno.test("Stream entry - renamed round-trips a non-ASCII nickname", () => {
  for (const nickname of ["Zoë", "Jos\u00e9", "jose\u0301", "ßtraße", "名前", "🦕dino", 'a"b\\c']) {
    const body = { kind: "renamed" as const, sessionId: BIG, nickname };
    const fields = encodeStreamEntry(entry(body));
    assert.deepEqual(fields.slice(6, 9), ["t", "r", "d"]);
    assert.deepEqual(JSON.parse(fields[9] as string), { s: String(BIG), n: nickname });
    assert.deepEqual(roundTrip(entry(body)), entry(body), nickname);
  }
});

Deno.test("Stream entry - a users list round-trips, big session ids and all", () => {
  const users = [
    user(1n, "guest-1", 1_700_000_000_000),
    user(BIG, "Zoë", 1_700_000_000_001),
    user(2n ** 64n - 1n, "名前", 1_700_000_000_002),
  ];
  const fields = encodeStreamEntry(entry({ kind: "users", users }, 9_007));
  assert.deepEqual(fields.slice(0, 9), ["o", ORIGIN, "n", "7", "q", "9007", "t", "u", "d"]);
  assert.deepEqual(JSON.parse(fields[9] as string), [
    { s: "1", n: "guest-1", t: 1_700_000_000_000 },
    { s: String(BIG), n: "Zoë", t: 1_700_000_000_001 },
    { s: String(2n ** 64n - 1n), n: "名前", t: 1_700_000_000_002 },
  ]);
  assert.deepEqual(
    roundTrip(entry({ kind: "users", users }, 9_007)),
    entry({
      kind: "users",
      users,
    }, 9_007),
  );
  assert.deepEqual(
    roundTrip(entry({ kind: "users", users: [] })),
    entry({
      kind: "users",
      users: [],
    }),
  );
});

Deno.test("Stream entry - field order does not matter when reading", () => {
  const fields = asRead(encodeStreamEntry(entry({ kind: "left", sessionId: 3n })));
  const pairs: Buffer[][] = [];
  for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i], fields[i + 1]]);
  assert.deepEqual(
    decodeStreamEntry(pairs.reverse().flat()),
    entry({ kind: "left", sessionId: 3n }),
  );
});

Deno.test("Stream entry - an unknown type cannot be read", () => {
  const fields = asRead(["o", ORIGIN, "n", "7", "q", "1", "t", "x", "d", "{}"]);
  assert.throws(() => decodeStreamEntry(fields), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.match(error.message, /^Cannot read stream entry/);
    assert.match(error.message, /"x"/);
    return true;
  });
});

/** Asserts that decoding `fields` fails with a "Cannot read stream entry" Error. */
function assertUnreadable(fields: Buffer[], what: string): void {
  assert.throws(() => decodeStreamEntry(fields), (error: unknown) => {
    assert.ok(error instanceof Error, what);
    assert.match(error.message, /^Cannot read stream entry/, `${what}: ${error.message}`);
    return true;
  });
}

/** The fields of `body`'s entry, as read, without the field `name`. */
function without(body: StreamEntry["body"], name: string): Buffer[] {
  const fields = asRead(encodeStreamEntry(entry(body)));
  const at = fields.findIndex((field, i) => i % 2 === 0 && field.toString() === name);
  assert.ok(at >= 0);
  fields.splice(at, 2);
  return fields;
}

Deno.test("Stream entry - an entry missing a field cannot be read", () => {
  const bodies: StreamEntry["body"][] = [
    { kind: "chat", payload: new Uint8Array([1, 2]) },
    { kind: "joined", user: user(1n, "a", 1) },
    { kind: "left", sessionId: 1n },
    { kind: "renamed", sessionId: 1n, nickname: "b" },
    { kind: "users", users: [user(1n, "a", 1)] },
  ];
  for (const body of bodies) {
    for (const name of ["o", "n", "q", "t", "d"]) {
      // A chat entry without its payload has a test of its own, below.
      if (body.kind === "chat" && name === "d") continue;
      assertUnreadable(without(body, name), `${body.kind} without ${name}`);
    }
  }
});

Deno.test("Stream entry - a chat entry missing its payload cannot be read", () => {
  assertUnreadable(
    without({ kind: "chat", payload: new Uint8Array([1, 2]) }, "d"),
    "chat without d",
  );
});

Deno.test("Stream entry - an empty entry cannot be read", () => {
  assert.throws(() => decodeStreamEntry([]), /^Error: Cannot read stream entry/);
});

Deno.test("Stream entry - a chat payload cut from a shared slab is kept in a buffer of its own", () => {
  const payload = allocateBytes(5).fill(7);
  const field = encodeStreamEntry(entry({ kind: "chat", payload }))[9] as Buffer;
  assert.deepEqual([...field], [7, 7, 7, 7, 7]);
  // An entry may wait in the outbox through an outage: it must not keep the slab alive.
  assert.equal(field.buffer.byteLength, 5);
});
