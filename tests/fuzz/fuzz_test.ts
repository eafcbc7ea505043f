/**
 * A fuzz test over real sockets against the real server process.
 *
 * Fuzz connections send random bytes, truncated and oversize length prefixes, and
 * frames whose payloads are modelled (the reply is predicted from the protocol),
 * mutated or pure protobuf soup, while three well-behaved clients stay connected and
 * two of them broadcast numbered messages. Every connection must be answered as the
 * protocol says; the well-behaved clients must see every broadcast exactly once, in
 * one order; the server must survive, answer a fresh client and stop cleanly.
 *
 * FUZZ_SECONDS (default 5) sets how long cases are started; FUZZ_SEED (default
 * random) replays a run: every case's content comes from a PRNG seeded with the run's
 * seed and the case's index. FUZZ_CASE=<index> runs that one case alone.
 */
import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { deadline } from "../support/deadline.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

const MAX_FRAME = 4096;
const MAX_CONTENT = 1024;
/** The per-session chat and rename limits are switched off, so RATE_LIMITED must never come. */
const SERVER_ARGS = [
  "--rename-limit",
  "0",
  "--max-frame-bytes",
  String(MAX_FRAME),
  "--max-content-bytes",
  String(MAX_CONTENT),
  "--rate-limit",
  "0",
];
const RATE_LIMIT_OFF = true;
/** Fuzz cases in flight at once, each on its own connection. */
const CONCURRENCY = 8;
/** The longest wait for any one answer. */
const WAIT_MS = 10_000;
/** Load pacing for the well-behaved broadcasters (not synchronisation). */
const BROADCAST_INTERVAL_MS = 25;
const MAX_BROADCASTS_PER_SENDER = 1_000_000;
const MAX_CASES = 1_000_000;
const WELL_BEHAVED_NICKNAMES = ["wb-a", "wb-b", "wb-c"] as const;

const FATAL_CODES = new Set([
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.SLOW_CONSUMER,
  ErrorCode.SERVER_FULL,
  ErrorCode.SHUTTING_DOWN,
  ErrorCode.IDLE_TIMEOUT,
]);
/** Errors a fuzz connection may get for a frame, all non-fatal. */
const ALLOWED_FRAME_ERRORS = new Set([
  ErrorCode.MALFORMED,
  ErrorCode.UNSUPPORTED,
  ErrorCode.CONTENT_TOO_LONG,
  ErrorCode.NICKNAME_INVALID,
  ErrorCode.NICKNAME_TAKEN,
  ...(RATE_LIMIT_OFF ? [] : [ErrorCode.RATE_LIMITED]),
]);

// ---------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: a small, fast 32-bit PRNG; plenty for fuzzing. */
class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  uint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** In [0, 1). */
  float(): number {
    return this.uint32() / 2 ** 32;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  bool(probability = 0.5): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  /** One of `table`'s values, each as likely as its weight. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    let roll = this.float() * table.reduce((sum, [weight]) => sum + weight, 0);
    for (const [weight, value] of table) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return table[table.length - 1][1];
  }

  bytes(count: number): number[] {
    return Array.from({ length: count }, () => this.uint32() & 0xff);
  }

  /** A random unsigned integer of at most `bits` bits. */
  bigBits(bits: number): bigint {
    let value = 0n;
    for (let i = 0; i < bits; i += 32) value = (value << 32n) | BigInt(this.uint32());
    return BigInt.asUintN(bits, value);
  }
}

// ---------------------------------------------------------------------------
// Protobuf wire format, written by hand so that anything can be written

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_SGROUP = 3;
const WIRE_EGROUP = 4;
const WIRE_I32 = 5;

/** Unsigned LEB128; negative numbers as 64-bit two's complement, as protobuf does. */
function varint(value: bigint | number): number[] {
  let rest = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

/** `value` as a varint of exactly `size` bytes (zero padding with continuation bits). */
function paddedVarint(value: number, size: number): number[] {
  const out = varint(value);
  while (out.length < size) {
    out[out.length - 1] |= 0x80;
    out.push(0);
  }
  return out;
}

function tag(field: number, wire: number): number[] {
  return varint(BigInt(field) * 8n + BigInt(wire));
}

function varintField(field: number, value: bigint | number): number[] {
  return [...tag(field, WIRE_VARINT), ...varint(value)];
}

function lenField(field: number, bytes: readonly number[]): number[] {
  return [...tag(field, WIRE_LEN), ...varint(bytes.length), ...bytes];
}

const encoder = new TextEncoder();
const utf8 = (text: string): number[] => [...encoder.encode(text)];
const utf8Length = (text: string): number => encoder.encode(text).length;

function frame(payload: readonly number[], prefixSize = 0): number[] {
  const prefix = varint(payload.length);
  return [...paddedVarint(payload.length, Math.max(prefix.length, prefixSize)), ...payload];
}

/** Long strings cut short for messages. */
function shorten<T>(value: T, max = 60): T | string {
  if (typeof value !== "string" || value.length <= max) return value;
  return `${value.slice(0, max)}... (${value.length} UTF-16 units)`;
}

const json = (value: unknown): string =>
  JSON.stringify(value, (_key, v) => typeof v === "bigint" ? `${v}` : v) ?? String(value);

/** deepEqual whose message shows what differs, briefly, even for long lists. */
function same(actual: unknown, expected: unknown, message: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch {
    const show = (value: unknown) => shorten(json(value), 200);
    let detail: string;
    if (Array.isArray(actual) && Array.isArray(expected)) {
      let at = 0;
      while (
        at < Math.min(actual.length, expected.length) && json(actual[at]) === json(expected[at])
      ) at++;
      detail = `${actual.length} items, expected ${expected.length}; first difference at #${at}: ` +
        `got ${show(actual[at])}, expected ${show(expected[at])}`;
    } else detail = `got ${show(actual)}, expected ${show(expected)}`;
    throw new assert.AssertionError({ message: `${message}: ${detail}`, actual, expected });
  }
}

function hex(bytes: ArrayLike<number>, max = 160): string {
  const shown = Array.from(bytes).slice(0, max).map((b) => b.toString(16).padStart(2, "0"));
  return shown.join(" ") + (bytes.length > max ? ` ... (${bytes.length} bytes)` : "");
}

// ---------------------------------------------------------------------------
// What a frame should get back

/** The one reply (or none) a frame gets, from the protocol's rules. */
type Expect =
  | { kind: "none" }
  | { kind: "pong"; nonce: bigint }
  | { kind: "who" }
  | { kind: "chat"; action: Action; content: string; clientSeq: bigint }
  | { kind: "renamed"; nickname: string }
  | { kind: "error"; codes: ErrorCode[]; clientSeq?: bigint }
  /** Mutated or random: at most one reply, of any kind a frame may get. */
  | { kind: "any" };

interface Frame {
  payload: number[];
  expect: Expect;
  label: string;
}

/** What a case's generator knows while it writes frames. */
interface GenContext {
  rng: Rng;
  me: bigint;
  /** This session's nickname, while the frames so far make it certain. */
  nickname: string | undefined;
  /** Random letters that make this case's nicknames its own. */
  token: string;
  names: number;
}

const SAMPLE_CHARACTERS = [
  "a",
  "Z",
  "0",
  " ",
  "\n",
  "\r",
  "\t",
  "\0",
  "\x1b",
  "\x7f",
  "\x85",
  "é",
  "e\u0301",
  "ß",
  "中",
  "한",
  "🙂",
  "👩‍👩‍👧",
  "\u200b",
  "\u202e",
  "\ufeff",
  "\ufffd",
  "\uffff",
  "\u{10000}",
  "\u{10ffff}",
  "\u0301",
];

/** Valid text of about `bytes` UTF-8 bytes (exactly, when `exact`). */
function text(rng: Rng, bytes: number, exact = false): string {
  let out = "";
  let size = 0;
  while (size < bytes - (exact ? 4 : 0)) {
    let piece: string;
    const roll = rng.int(0, 9);
    if (roll < 4) piece = String.fromCharCode(rng.int(0x20, 0x7e));
    else if (roll < 7) piece = rng.pick(SAMPLE_CHARACTERS);
    else {
      let point = rng.int(0, 0x10ffff);
      if (point >= 0xd800 && point <= 0xdfff) point = rng.int(0, 0xd7ff);
      piece = String.fromCodePoint(point);
    }
    out += piece;
    size += utf8Length(piece);
  }
  if (exact) {
    while (size > bytes) {
      const chars = [...out];
      size -= utf8Length(chars.pop()!);
      out = chars.join("");
    }
    out += "x".repeat(bytes - size);
  }
  return out;
}

/** Sequences that are not UTF-8: stray continuations, overlongs, surrogates, truncations. */
const BAD_UTF8 = [
  [0xff],
  [0xfe],
  [0x80],
  [0xbf],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xc3],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
];

function badUtf8(rng: Rng): number[] {
  return [
    ...utf8(text(rng, rng.int(0, 20))),
    ...rng.pick(BAD_UTF8),
    ...utf8(text(rng, rng.int(0, 20))),
  ];
}

/** One unknown field (number 5 or more: unknown to every message here), well-formed. */
function unknownField(rng: Rng, depth = 0): number[] {
  const field = rng.weighted([
    [4, rng.int(5, 15)],
    [2, rng.int(16, 2047)],
    [1, rng.int(19000, 19999)],
    [1, 2 ** 29 - 1],
    [1, rng.int(5, 2 ** 29 - 1)],
  ]);
  switch (rng.pick([WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32, WIRE_SGROUP])) {
    case WIRE_VARINT:
      return varintField(field, rng.bigBits(rng.int(1, 64)));
    case WIRE_I64:
      return [...tag(field, WIRE_I64), ...rng.bytes(8)];
    case WIRE_I32:
      return [...tag(field, WIRE_I32), ...rng.bytes(4)];
    case WIRE_LEN:
      // Unknown bytes are not text: invalid UTF-8 here is fine.
      return lenField(field, rng.bool() ? badUtf8(rng) : rng.bytes(rng.int(0, 40)));
    default: {
      const inner = depth < 2
        ? Array.from({ length: rng.int(0, 3) }, () => unknownField(rng, depth + 1)).flat()
        : [];
      return [...tag(field, WIRE_SGROUP), ...inner, ...tag(field, WIRE_EGROUP)];
    }
  }
}

function unknownFields(rng: Rng, max: number): number[] {
  return Array.from({ length: rng.int(0, max) }, () => unknownField(rng)).flat();
}

/** Joins a message's fields in random order, with unknown fields among them. */
function fields(rng: Rng, parts: number[][], unknownChance = 0.3): number[] {
  const shuffled = [...parts];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const out: number[] = [];
  for (const part of shuffled) {
    if (rng.bool(unknownChance)) out.push(...unknownField(rng));
    out.push(...part);
  }
  if (rng.bool(unknownChance)) out.push(...unknownField(rng));
  return out;
}

/**
 * A ClientMessage around `body` (oneof field `field`): maybe after another oneof case
 * (the last one on the wire wins), maybe among unknown fields.
 */
function clientMessage(rng: Rng, field: number, body: number[]): number[] {
  const out: number[] = [];
  if (rng.bool(0.15)) {
    // A different, valid case first: protobuf keeps the last oneof member seen.
    const decoy = rng.pick([1, 2, 3, 4].filter((f) => f !== field));
    const decoyBody = decoy === 3
      ? varintField(1, rng.int(0, 1000))
      : decoy === 2
      ? lenField(1, utf8("decoy"))
      : decoy === 1
      ? lenField(1, utf8("decoy"))
      : [];
    out.push(...lenField(decoy, decoyBody));
  }
  if (rng.bool(0.3)) out.push(...unknownFields(rng, 3));
  out.push(...lenField(field, body));
  if (rng.bool(0.3)) out.push(...unknownFields(rng, 3));
  return out;
}

/** A scalar field, maybe written twice (the last one wins), maybe left out when default. */
function scalar(rng: Rng, field: number, value: bigint | number, junk: () => bigint): number[] {
  const out: number[] = [];
  if (rng.bool(0.15)) out.push(...varintField(field, junk()));
  if (BigInt(value) !== 0n || rng.bool(0.5) || out.length > 0) {
    out.push(...varintField(field, value));
  }
  return out;
}

function stringField(rng: Rng, field: number, value: string): number[] {
  const out: number[] = [];
  if (rng.bool(0.15)) out.push(...lenField(field, utf8(text(rng, rng.int(0, 30)))));
  if (value !== "" || rng.bool(0.5) || out.length > 0) out.push(...lenField(field, utf8(value)));
  return out;
}

function pingFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const nonce = rng.weighted([
    [1, 0n],
    [3, BigInt(rng.int(1, 1000))],
    [3, rng.bigBits(40)],
    [1, 2n ** 64n - 1n],
  ]);
  const body = fields(rng, [scalar(rng, 1, nonce, () => rng.bigBits(40))]);
  return {
    payload: clientMessage(rng, 3, body),
    expect: { kind: "pong", nonce },
    label: `ping ${nonce}`,
  };
}

function whoFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  return {
    payload: clientMessage(rng, 4, fields(rng, [])),
    expect: { kind: "who" },
    label: "who",
  };
}

function chatFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const size = rng.weighted([
    [1, 0],
    [5, rng.int(1, 64)],
    [1, rng.int(900, 1023)],
    [1, MAX_CONTENT],
    [1, MAX_CONTENT + 1],
    [1, rng.int(MAX_CONTENT + 2, 3800)],
  ]);
  const exact = size === MAX_CONTENT || size === MAX_CONTENT + 1 || rng.bool(0.3);
  const content = (rng.bool(0.05) ? "\ufeff" : "") + text(rng, size, exact);
  const action = rng.weighted<number>([
    [4, Action.ECHO],
    [4, Action.BROADCAST],
    [1, rng.int(2, 1000)],
    [1, rng.pick([-1, -2, 2 ** 31 - 1, -(2 ** 31)])],
  ]);
  const clientSeq = rng.weighted([[1, 0n], [3, BigInt(rng.int(1, 100000))], [1, rng.bigBits(64)]]);
  const body = fields(rng, [
    stringField(rng, 1, content),
    scalar(rng, 2, action, () => BigInt(rng.int(0, 5))),
    scalar(rng, 3, clientSeq, () => rng.bigBits(64)),
  ]);
  const tooLong = utf8Length(content) > MAX_CONTENT;
  const unknownAction = action !== Action.ECHO && action !== Action.BROADCAST;
  let expect: Expect;
  if (tooLong && unknownAction) {
    // Both are wrong; the protocol does not say which is reported.
    expect = {
      kind: "error",
      codes: [ErrorCode.CONTENT_TOO_LONG, ErrorCode.UNSUPPORTED],
      clientSeq,
    };
  } else if (tooLong) expect = { kind: "error", codes: [ErrorCode.CONTENT_TOO_LONG], clientSeq };
  else if (unknownAction) expect = { kind: "error", codes: [ErrorCode.UNSUPPORTED], clientSeq };
  else expect = { kind: "chat", action: action as Action, content, clientSeq };
  return {
    payload: clientMessage(rng, 2, body),
    expect,
    label: `chat action=${action} seq=${clientSeq} bytes=${utf8Length(content)}`,
  };
}

const INVALID_NICKNAMES = [
  "has space",
  "x".repeat(33),
  "ü".repeat(33),
  "bad!",
  "a\u200bb",
  "\u0301abc",
  "tab\tx",
  "new\nline",
  "emoji🙂",
  "semi;colon",
  "ＡＢ　ＣＤ",
  "a/b",
  "\u202eevil",
  "\0",
];

function toggleCase(rng: Rng, name: string): string {
  return [...name].map((c) => rng.bool() ? c.toUpperCase() : c.toLowerCase()).join("");
}

function fullwidth(name: string): string {
  return name.replace(/[a-z]/g, (c) => String.fromCodePoint(c.codePointAt(0)! - 0x61 + 0xff41));
}

function helloFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const client = rng.bool(0.5) ? "" : text(rng, rng.int(1, 40));
  const choice = rng.weighted<string>([
    [3, "unique"],
    [2, "taken"],
    [2, "invalid"],
    [1, "empty"],
    [1, "other-guest"],
    [ctx.nickname === undefined ? 0 : 1, "same"],
    [ctx.nickname?.toLowerCase() === `guest-${ctx.me}` ? 1 : 0, "own-guest"],
  ]);
  let nickname: string;
  let expect: Expect;
  switch (choice) {
    case "unique": {
      // Scripts, marks and a decomposed é, which the server stores composed (NFC).
      const base = rng.pick(["fz", "Ünï", "日本", "ক্ষ", "e\u0301", "Ωμέγα", "_", "."]);
      nickname = `${base}${ctx.token}${ctx.names++}`;
      expect = { kind: "renamed", nickname: nickname.normalize("NFC") };
      ctx.nickname = nickname.normalize("NFC");
      break;
    }
    case "taken": {
      const owner = rng.pick(WELL_BEHAVED_NICKNAMES);
      nickname = rng.bool() ? toggleCase(rng, owner) : fullwidth(owner);
      expect = { kind: "error", codes: [ErrorCode.NICKNAME_TAKEN] };
      break;
    }
    case "invalid":
      nickname = rng.pick(INVALID_NICKNAMES);
      expect = { kind: "error", codes: [ErrorCode.NICKNAME_INVALID] };
      break;
    case "other-guest":
      nickname = toggleCase(rng, `guest-${ctx.me + 1_000_000n}`);
      expect = { kind: "error", codes: [ErrorCode.NICKNAME_INVALID] };
      break;
    case "same":
      nickname = ctx.nickname!;
      expect = { kind: "renamed", nickname };
      break;
    case "own-guest":
      // A guest may keep its own guest name, in any case.
      nickname = toggleCase(rng, `guest-${ctx.me}`);
      expect = { kind: "renamed", nickname };
      ctx.nickname = nickname;
      break;
    default:
      nickname = "";
      expect = { kind: "none" };
  }
  const body = fields(rng, [stringField(rng, 1, nickname), stringField(rng, 2, client)]);
  return {
    payload: clientMessage(rng, 1, body),
    expect,
    label: `hello ${choice} ${JSON.stringify(nickname)}`,
  };
}

/** Invalid UTF-8 in a string field: MALFORMED, even when a later value would override it. */
function badUtf8Frame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const where = rng.pick(["chat content", "hello nickname", "hello client"]);
  const bad = lenField(where === "hello client" ? 2 : 1, badUtf8(rng));
  const parts = [bad];
  if (rng.bool(0.2)) parts.push(lenField(where === "hello client" ? 2 : 1, utf8("fine")));
  const body = [...parts.flat(), ...(where === "chat content" ? varintField(2, 1) : [])];
  return {
    payload: clientMessage(rng, where.startsWith("chat") ? 2 : 1, body),
    expect: { kind: "error", codes: [ErrorCode.MALFORMED] },
    label: `invalid UTF-8 in ${where}`,
  };
}

/** No body the server knows: empty, or unknown fields (unknown oneof cases) only. */
function noBodyFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const payload = rng.bool(0.3) ? [] : Array.from(
    { length: rng.int(1, 6) },
    () => unknownField(rng),
  ).flat();
  return {
    payload,
    expect: { kind: "error", codes: [ErrorCode.UNSUPPORTED] },
    label: payload.length === 0 ? "empty payload" : "unknown oneof cases",
  };
}

/** Not protobuf at all, at the end of a valid message: MALFORMED. */
function brokenWireFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const broken = rng.pick<[string, number[]]>([
    ["wire type 6", [...tag(rng.int(5, 100), 6)]],
    ["wire type 7", [...tag(rng.int(1, 100), 7)]],
    ["field 0", [0x00, 0x01]],
    ["field over 2^29-1", [0x80, 0x80, 0x80, 0x80, 0x10, 0x00]],
    ["truncated I32", [...tag(9, WIRE_I32), 1, 2]],
    ["truncated I64", [...tag(9, WIRE_I64), 1, 2, 3, 4, 5]],
    ["length past the end", [...tag(9, WIRE_LEN), 50, 1, 2, 3]],
    ["huge length", [...tag(9, WIRE_LEN), 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ["truncated varint", [...tag(9, WIRE_VARINT), 0x80, 0x80]],
    // In a known field: skipping an unknown one does not check a varint's length.
    ["11-byte varint", lenField(3, [...tag(1, WIRE_VARINT), ...new Array(10).fill(0xff), 0x01])],
    ["truncated tag", [0x80]],
    ["unterminated group", [...tag(9, WIRE_SGROUP), ...varintField(1, 1)]],
    ["mismatched end group", [...tag(9, WIRE_SGROUP), ...tag(10, WIRE_EGROUP)]],
    ["lone end group", [...tag(9, WIRE_EGROUP)]],
    ["sub-message past its end", [...tag(3, WIRE_LEN), 5, ...varintField(1, 1)]],
  ]);
  const valid = rng.bool() ? pingFrame(ctx).payload : [];
  return {
    payload: [...valid, ...broken[1]],
    expect: { kind: "error", codes: [ErrorCode.MALFORMED] },
    label: `broken wire: ${broken[0]}`,
  };
}

/** Many repeated entries, up to the frame limit. */
function hugeFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const target = rng.bool(0.3) ? MAX_FRAME : rng.int(1000, MAX_FRAME);
  const variant = rng.pick([
    "unknown around ping",
    "unknown only",
    "who repeated",
    "ping repeated",
    "chat seq repeated",
  ]);
  const fill = (out: number[], entry: () => number[], reserve = 0): number[] => {
    while (true) {
      const next = entry();
      if (out.length + next.length + reserve > target) return out;
      out.push(...next);
    }
  };
  const smallUnknown = () =>
    rng.bool()
      ? varintField(rng.int(5, 15), rng.int(0, 127))
      : lenField(rng.int(5, 15), rng.bytes(rng.int(0, 20)));
  switch (variant) {
    case "unknown around ping": {
      const nonce = rng.bigBits(40);
      const ping = lenField(3, varintField(1, nonce));
      // The ping goes between two unknown fields, never inside one.
      const entries: number[][] = [];
      let size = ping.length;
      while (true) {
        const next = smallUnknown();
        if (size + next.length > target) break;
        entries.push(next);
        size += next.length;
      }
      entries.splice(rng.int(0, entries.length), 0, ping);
      return {
        payload: padTo(entries.flat(), target),
        expect: { kind: "pong", nonce },
        label: `huge: ${variant}`,
      };
    }
    case "unknown only":
      return {
        payload: padTo(fill([], smallUnknown), target),
        expect: { kind: "error", codes: [ErrorCode.UNSUPPORTED] },
        label: `huge: ${variant}`,
      };
    case "who repeated":
      return {
        payload: fill([], () => lenField(4, [])),
        expect: { kind: "who" },
        label: `huge: ${variant}`,
      };
    case "ping repeated": {
      const out = fill([], () => lenField(3, varintField(1, rng.int(1, 1000))), 12);
      const nonce = rng.bigBits(40);
      out.push(...lenField(3, varintField(1, nonce)));
      return { payload: out, expect: { kind: "pong", nonce }, label: `huge: ${variant}` };
    }
    default: {
      const clientSeq = rng.bigBits(32);
      const content = text(rng, rng.int(0, 30));
      const head = [...lenField(1, utf8(content)), ...varintField(2, Action.ECHO)];
      const body = fill(head, () => varintField(3, rng.bigBits(32)), 24);
      body.push(...varintField(3, clientSeq));
      return {
        payload: lenField(2, body),
        expect: { kind: "chat", action: Action.ECHO, content, clientSeq },
        label: `huge: ${variant}`,
      };
    }
  }
}

/** Pads a message with one unknown LEN field to exactly `target` bytes, when it fits. */
function padTo(payload: number[], target: number): number[] {
  for (let filler = target - payload.length - 4; filler >= 0; filler--) {
    const field = lenField(15, new Array(filler).fill(0));
    if (payload.length + field.length === target) return [...payload, ...field];
    if (payload.length + field.length < target) break;
  }
  return payload;
}

function modelledFrame(ctx: GenContext): Frame {
  const generator = ctx.rng.weighted([
    [3, pingFrame],
    [1, whoFrame],
    [5, chatFrame],
    [3, helloFrame],
    [2, badUtf8Frame],
    [2, noBodyFrame],
    [2, brokenWireFrame],
    [1, hugeFrame],
  ]);
  for (let attempt = 0; attempt < 5; attempt++) {
    const saved = ctx.nickname;
    const generated = generator(ctx);
    if (generated.payload.length <= MAX_FRAME) return generated;
    ctx.nickname = saved;
  }
  return pingFrame(ctx);
}

/** Random protobuf soup: random field numbers and wire types, lengths that may lie. */
function soup(rng: Rng, depth = 0): number[] {
  const out: number[] = [];
  const count = rng.int(0, 10);
  for (let i = 0; i < count && out.length < 2000; i++) {
    const field = rng.weighted([
      [6, rng.int(1, 4)],
      [2, rng.int(5, 20)],
      [1, rng.int(0, 2 ** 29 - 1)],
      [1, 0],
    ]);
    const wire = rng.weighted([
      [3, WIRE_VARINT],
      [4, WIRE_LEN],
      [1, WIRE_I32],
      [1, WIRE_I64],
      [1, WIRE_SGROUP],
      [1, WIRE_EGROUP],
      [1, rng.int(6, 7)],
    ]);
    out.push(...tag(field, wire));
    switch (wire) {
      case WIRE_VARINT:
        out.push(
          ...(rng.bool(0.05) ? new Array(11).fill(0xff) : varint(rng.bigBits(rng.int(1, 64)))),
        );
        break;
      case WIRE_I64:
        out.push(...rng.bytes(rng.bool(0.9) ? 8 : rng.int(0, 7)));
        break;
      case WIRE_I32:
        out.push(...rng.bytes(rng.bool(0.9) ? 4 : rng.int(0, 3)));
        break;
      case WIRE_LEN: {
        const inner = depth < 3 && rng.bool(0.5)
          ? soup(rng, depth + 1)
          : rng.weighted([[2, utf8(text(rng, rng.int(0, 40)))], [1, badUtf8(rng)], [
            1,
            rng.bytes(rng.int(0, 40)),
          ]]);
        const lie = rng.bool(0.1) ? rng.int(-3, 3) : 0;
        out.push(...varint(Math.max(0, inner.length + lie)), ...inner);
        break;
      }
      case WIRE_SGROUP:
        if (depth < 3) out.push(...soup(rng, depth + 1));
        if (rng.bool(0.8)) out.push(...tag(field, WIRE_EGROUP));
        break;
      default:
        break;
    }
  }
  return out;
}

function mutate(rng: Rng, original: readonly number[]): number[] {
  const out = [...original];
  const count = rng.int(1, 6);
  for (let i = 0; i < count; i++) {
    const at = rng.int(0, out.length);
    switch (rng.int(0, 8)) {
      case 0:
        if (out.length > 0) out[at % out.length] ^= 1 << rng.int(0, 7);
        break;
      case 1:
        if (out.length > 0) {
          out[at % out.length] = rng.pick([
            0x00,
            0x01,
            0x7f,
            0x80,
            0xff,
            0x08,
            0x0a,
            0x10,
            0x12,
            0x1a,
            0x22,
            0x2a,
          ]);
        }
        break;
      case 2:
        out.splice(at, 0, ...rng.bytes(rng.int(1, 8)));
        break;
      case 3:
        out.splice(at, rng.int(1, 8));
        break;
      case 4:
        out.length = Math.min(out.length, at);
        break;
      case 5: {
        const length = rng.int(1, 16);
        out.splice(rng.int(0, out.length), 0, ...out.slice(at, at + length));
        break;
      }
      case 6:
        if (out.length > 0) out[at % out.length] = rng.int(0, 255);
        break;
      case 7:
        out.splice(at, 0, ...unknownField(rng));
        break;
      default:
        out.splice(at, 0, ...rng.pick(BAD_UTF8));
    }
  }
  return out.slice(0, MAX_FRAME);
}

function fuzzedFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const how = rng.weighted([[6, "mutated"], [3, "soup"], [1, "random bytes"]]);
  let payload: number[];
  let label: string;
  if (how === "mutated") {
    const saved = ctx.nickname;
    const base = modelledFrame(ctx);
    ctx.nickname = saved;
    payload = mutate(rng, base.payload);
    label = `mutated ${base.label}`;
  } else if (how === "soup") {
    payload = soup(rng).slice(0, MAX_FRAME);
    label = "soup";
  } else {
    payload = rng.bytes(rng.int(0, 300));
    label = "random bytes";
  }
  // A mutated Hello may rename this session: from here on the name is unknown.
  ctx.nickname = undefined;
  return { payload, expect: { kind: "any" }, label };
}

// ---------------------------------------------------------------------------
// A raw fuzz connection

class FuzzConn {
  readonly conn: Deno.TcpConn;
  /** Every message received, in order. */
  readonly messages: ServerMessage[] = [];
  /** Anything the server sent that is not a ServerMessage frame. */
  readonly problems: string[] = [];
  /** The server closed (or reset) the connection. */
  ended = false;
  reset = false;
  readonly done: Promise<void>;
  readonly #stats: Stats;
  readonly #listeners = new Set<() => void>();
  #closed = false;

  private constructor(conn: Deno.TcpConn, stats: Stats) {
    this.conn = conn;
    this.#stats = stats;
    conn.setNoDelay(true);
    this.done = this.#read();
  }

  static async open(port: number, stats: Stats): Promise<FuzzConn> {
    stats.connections++;
    return new FuzzConn(await Deno.connect({ hostname: "127.0.0.1", port }), stats);
  }

  async write(bytes: Uint8Array, frames = 0): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      const count = await this.conn.write(bytes.subarray(written));
      written += count;
      this.#stats.bytes += count;
    }
    this.#stats.frames += frames;
  }

  /** Writes and ignores failures: the server may rightly have closed already. */
  async writeMayFail(bytes: Uint8Array, frames = 0): Promise<void> {
    try {
      await this.write(bytes, frames);
    } catch {
      // Closed or reset by the server.
    }
  }

  async closeWrite(): Promise<void> {
    try {
      await this.conn.closeWrite();
    } catch {
      // Already closed by the server.
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Waits until `condition` holds; fails when the connection ends first, or after `ms`. */
  async until(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    if (condition()) return;
    let check: () => void = () => {};
    const reached = new Promise<void>((resolve, reject) => {
      check = () => {
        if (condition()) resolve();
        else if (this.ended) {
          reject(new Error(`connection ended before ${what}; ${this.summary()}`));
        }
      };
      this.#listeners.add(check);
      check();
    });
    try {
      await deadline(reached, ms, () => `${what}; ${this.summary()}`);
    } finally {
      this.#listeners.delete(check);
    }
  }

  summary(): string {
    const shown = this.messages.slice(-12).map(describeMessage).join(", ");
    return `received ${this.messages.length} messages (last: ${shown})` +
      (this.ended ? `, ended${this.reset ? " by reset" : ""}` : "");
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const count = await this.conn.read(buffer);
        if (count === null) break;
        try {
          decoder.push(buffer.subarray(0, count), (payload) => {
            try {
              this.messages.push(decodeServerMessage(payload));
            } catch (error) {
              this.problems.push(`undecodable frame ${hex(payload)}: ${error}`);
            }
          });
        } catch (error) {
          this.problems.push(`unframeable output: ${error}`);
          break;
        }
        this.#notify();
      }
    } catch {
      if (!this.#closed) this.reset = true;
    } finally {
      this.ended = true;
      this.close();
      this.#notify();
    }
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

function describeMessage(message: ServerMessage): string {
  const body = message.body;
  switch (body.case) {
    case "error":
      return `error ${ErrorCode[body.value.code]}${
        body.value.fatal ? " fatal" : ""
      } seq=${body.value.clientSeq}`;
    case "chat":
      return `chat ${
        Action[body.value.action] ?? body.value.action
      } from ${body.value.fromSessionId} seq=${body.value.clientSeq}`;
    case "presence":
      return `presence ${PresenceKind[body.value.kind]} ${body.value.sessionId} ${
        JSON.stringify(body.value.nickname)
      }`;
    case "pong":
      return `pong ${body.value.nonce}`;
    default:
      return body.case ?? "empty";
  }
}

// ---------------------------------------------------------------------------
// Checking what a fuzz connection got

interface Stats {
  cases: Record<Kind, number>;
  connections: number;
  frames: number;
  bytes: number;
  modelled: number;
  fuzzed: number;
  errors: Map<string, number>;
  ownBroadcasts: number;
}

/** Broadcasts the fuzz sessions saw come back to them: each must reach every well-behaved client. */
type BroadcastRegistry = Map<string, number>;

function broadcastKey(
  event: { fromSessionId: bigint; clientSeq: bigint; sentAtUnixMs: bigint; content: string },
): string {
  return `${event.fromSessionId}|${event.clientSeq}|${event.sentAtUnixMs}|${
    JSON.stringify(event.content)
  }`;
}

/** A reply to this session's own frames (as opposed to others' broadcasts and presence). */
function isOwn(message: ServerMessage, me: bigint): boolean {
  const body = message.body;
  switch (body.case) {
    case "error":
    case "pong":
    case "who":
      return true;
    case "chat":
      return body.value.fromSessionId === me;
    case "presence":
      return body.value.kind === PresenceKind.RENAMED && body.value.sessionId === me;
    default:
      return false;
  }
}

/**
 * Rules for every message on a fuzz connection: a Welcome first and only first, only
 * broadcasts from others, no presence about itself but renames, errors flagged fatal
 * exactly when their code is, nothing after a fatal one. Returns its own replies.
 */
function checkConnection(
  conn: FuzzConn,
  me: bigint,
  wellBehaved: readonly bigint[],
): ServerMessage[] {
  same(conn.problems, [], "the server sent something that is not a ServerMessage");
  const own: ServerMessage[] = [];
  conn.messages.forEach((message, index) => {
    const body = message.body;
    const where = `message ${index} (${describeMessage(message)})`;
    if (index === 0) {
      assert.equal(body.case, "welcome", `${where}: the first message must be Welcome`);
      return;
    }
    assert.notEqual(body.case, "welcome", `${where}: a second Welcome`);
    assert.notEqual(body.case, undefined, `${where}: a ServerMessage without a body`);
    if (body.case === "error") {
      assert.equal(body.value.fatal, FATAL_CODES.has(body.value.code), `${where}: fatal flag`);
      if (body.value.fatal) {
        assert.equal(index, conn.messages.length - 1, `${where}: messages after a fatal error`);
      }
    }
    if (body.case === "chat" && body.value.fromSessionId !== me) {
      assert.equal(body.value.action, Action.BROADCAST, `${where}: another session's echo`);
    }
    if (body.case === "presence") {
      assert.ok(
        body.value.sessionId !== me || body.value.kind === PresenceKind.RENAMED,
        `${where}: presence about this session`,
      );
      if (body.value.kind === PresenceKind.LEFT) {
        assert.ok(
          !wellBehaved.includes(body.value.sessionId),
          `${where}: a well-behaved client left`,
        );
      }
    }
    if (isOwn(message, me)) own.push(message);
  });
  return own;
}

/** What a session knows about itself while its replies are checked in order. */
interface ReplyState {
  me: bigint;
  nickname: string;
  wellBehaved: readonly { id: bigint; nickname: string }[];
  registry: BroadcastRegistry | undefined;
  stats: Stats;
}

function recordOwnBroadcast(message: ServerMessage, state: ReplyState): void {
  if (message.body.case === "chat" && message.body.value.action === Action.BROADCAST) {
    state.stats.ownBroadcasts++;
    if (state.registry !== undefined) {
      const key = broadcastKey(message.body.value);
      state.registry.set(key, (state.registry.get(key) ?? 0) + 1);
    }
  }
}

/** Checks one reply that any frame may get, and follows renames. */
function checkAnyReply(message: ServerMessage, state: ReplyState): void {
  const body = message.body;
  const what = describeMessage(message);
  switch (body.case) {
    case "error":
      assert.ok(ALLOWED_FRAME_ERRORS.has(body.value.code), `an error a frame may not get: ${what}`);
      assert.equal(body.value.fatal, false, what);
      return;
    case "chat":
      assert.ok(
        body.value.action === Action.ECHO || body.value.action === Action.BROADCAST,
        `a chat with an unknown action was relayed: ${what}`,
      );
      assert.ok(
        utf8Length(body.value.content) <= MAX_CONTENT,
        `content over the limit was relayed: ${what}`,
      );
      assert.equal(body.value.fromNickname, state.nickname, `${what}: from_nickname`);
      recordOwnBroadcast(message, state);
      return;
    case "presence": {
      const { nickname, previousNickname } = body.value;
      assert.equal(previousNickname, state.nickname, `${what}: previous_nickname`);
      assert.ok(nickname !== "" && [...nickname].length <= 32, `${what}: a nickname out of bounds`);
      assert.equal(nickname, nickname.normalize("NFC"), `${what}: a nickname not in NFC`);
      assert.ok(
        !state.wellBehaved.some((w) => w.nickname === nickname.toLowerCase()),
        `${what}: a well-behaved client's nickname was taken`,
      );
      state.nickname = nickname;
      return;
    }
    case "who":
      checkWho(message, state);
      return;
    case "pong":
      return;
    default:
      assert.fail(`an unexpected reply: ${what}`);
  }
}

function checkWho(message: ServerMessage, state: ReplyState): void {
  assert.equal(message.body.case, "who");
  const users = message.body.value.users.map((u) => `${u.sessionId}:${u.nickname}`);
  for (const user of [{ id: state.me, nickname: state.nickname }, ...state.wellBehaved]) {
    assert.ok(
      users.includes(`${user.id}:${user.nickname}`),
      `who lacks ${user.id}:${user.nickname}: ${users}`,
    );
  }
}

/** Checks the replies to one frame (none or one) against what the protocol says. */
function checkReplies(expect: Expect, replies: ServerMessage[], state: ReplyState): void {
  const what = `expected ${
    JSON.stringify(
      expect.kind === "error"
        ? { ...expect, codes: expect.codes.map((c) => ErrorCode[c]) }
        : expect,
      (_k, v) => typeof v === "bigint" ? `${v}` : shorten(v),
    )
  }, got [${replies.map(describeMessage).join(", ")}]`;
  if (expect.kind === "any") {
    assert.ok(replies.length <= 1, `more than one reply to one frame: ${what}`);
    for (const reply of replies) checkAnyReply(reply, state);
    return;
  }
  if (expect.kind === "none") {
    assert.equal(replies.length, 0, what);
    return;
  }
  assert.equal(replies.length, 1, what);
  const body = replies[0].body;
  switch (expect.kind) {
    case "pong":
      assert.ok(body.case === "pong" && body.value.nonce === expect.nonce, what);
      return;
    case "who":
      assert.equal(body.case, "who", what);
      checkWho(replies[0], state);
      return;
    case "chat":
      assert.ok(body.case === "chat", what);
      assert.equal(body.value.action, expect.action, what);
      assert.equal(body.value.content, expect.content, `content not passed on exactly: ${what}`);
      assert.equal(body.value.clientSeq, expect.clientSeq, what);
      assert.equal(body.value.fromNickname, state.nickname, what);
      recordOwnBroadcast(replies[0], state);
      return;
    case "renamed":
      assert.ok(body.case === "presence" && body.value.kind === PresenceKind.RENAMED, what);
      assert.equal(body.value.nickname, expect.nickname, what);
      assert.equal(body.value.previousNickname, state.nickname, what);
      state.nickname = expect.nickname;
      return;
    case "error":
      assert.ok(body.case === "error", what);
      assert.ok(expect.codes.includes(body.value.code), what);
      assert.equal(body.value.fatal, false, what);
      if (expect.clientSeq !== undefined) {
        assert.equal(body.value.clientSeq, expect.clientSeq, what);
      }
      return;
  }
}

// ---------------------------------------------------------------------------
// The cases

const KINDS = ["random", "truncated", "oversize", "frames", "split"] as const;
type Kind = typeof KINDS[number];

interface CaseInfo {
  index: number;
  seed: number;
  kind: Kind;
  notes: string[];
  writes: Uint8Array[];
}

interface CaseEnv {
  port: number;
  stats: Stats;
  registry: BroadcastRegistry;
  wellBehaved: readonly { id: bigint; nickname: string }[];
}

function describeCase(info: CaseInfo): string {
  const writes = info.writes.slice(0, 6).map((w, i) => `  write ${i}: ${hex(w)}`).join("\n");
  return `case #${info.index} kind=${info.kind} case-seed=${info.seed}\n  ${
    info.notes.join("\n  ")
  }\n${writes}` +
    (info.writes.length > 6 ? `\n  ... ${info.writes.length} writes` : "");
}

function pingPayload(nonce: bigint): number[] {
  return lenField(3, varintField(1, nonce));
}

/** Splits `bytes` at random points into `count` pieces or fewer. */
function chunks(rng: Rng, bytes: Uint8Array, count: number): Uint8Array[] {
  const cuts = [
    ...new Set(Array.from({ length: count - 1 }, () => rng.int(1, Math.max(1, bytes.length - 1)))),
  ]
    .sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) out.push(bytes.subarray(from, cut));
    from = cut;
  }
  return out;
}

async function runCase(env: CaseEnv, info: CaseInfo): Promise<void> {
  const rng = new Rng(info.seed);
  const conn = await FuzzConn.open(env.port, env.stats);
  const send = async (bytes: number[] | Uint8Array, frames: number, mayFail = false) => {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    info.writes.push(data);
    if (mayFail) await conn.writeMayFail(data, frames);
    else await conn.write(data, frames);
  };
  const wellBehavedIds = env.wellBehaved.map((w) => w.id);
  try {
    await conn.until(() => conn.messages.length > 0, "the Welcome");
    const first = conn.messages[0].body;
    assert.equal(first.case, "welcome", "the first message");
    const welcome = first.value;
    const me = welcome.sessionId;
    assert.equal(welcome.nickname, `guest-${me}`);
    assert.equal(welcome.maxFrameBytes, MAX_FRAME);
    assert.equal(welcome.maxContentBytes, MAX_CONTENT);
    info.notes.push(`session ${me}`);
    const state: ReplyState = {
      me,
      nickname: welcome.nickname,
      wellBehaved: env.wellBehaved,
      registry: undefined,
      stats: env.stats,
    };
    const ctx: GenContext = {
      rng,
      me,
      nickname: welcome.nickname,
      token: Array.from({ length: 8 }, () => rng.pick([..."abcdefghijklmnopqrstuvwxyz0123456789"]))
        .join(""),
      names: 0,
    };
    const ownReplies = () => checkConnection(conn, me, wellBehavedIds);
    const waitForServerClose = () =>
      conn.until(() => conn.ended, "the server to close the connection");

    switch (info.kind) {
      case "random": {
        // Anything goes, as long as it is well-formed and the server ends the connection after our FIN.
        const bytes = new Uint8Array(rng.bytes(rng.int(1, 8000)));
        const halfClose = rng.bool(0.6);
        info.notes.push(
          `${bytes.length} random bytes, then ${halfClose ? "FIN and wait" : "close"}`,
        );
        for (const piece of chunks(rng, bytes, rng.int(1, 3))) await send(piece, 0, true);
        if (halfClose) {
          await conn.closeWrite();
          await waitForServerClose();
          assert.ok(!conn.reset, "the server reset the connection instead of closing it");
        }
        for (const reply of ownReplies()) {
          if (reply.body.case === "error" && reply.body.value.code === ErrorCode.FRAME_TOO_LARGE) {
            continue;
          }
          checkAnyReply(reply, state);
        }
        break;
      }
      case "truncated": {
        // Valid pings, then a frame that never completes: the pongs, then a close after our FIN.
        const nonces = Array.from({ length: rng.int(0, 2) }, (_, i) => (1n << 60n) + BigInt(i));
        const partial = rng.bool(0.7)
          ? Array.from({ length: rng.int(1, 4) }, () => 0x80 | rng.int(0, 0x7f))
          : (() => {
            const payload = pingPayload(5n);
            return frame(payload).slice(0, rng.int(1, payload.length));
          })();
        // The lowest value the unfinished prefix can still take: over the limit may be refused early.
        const lowest = partial.every((b) => b & 0x80)
          ? partial.reduce((sum, b, i) => sum + (b & 0x7f) * 2 ** (7 * i), 0)
          : 0;
        const halfClose = rng.bool(0.7);
        info.notes.push(
          `pings ${nonces}, then ${hex(partial)}, then ${halfClose ? "FIN and wait" : "close"}`,
        );
        const bytes = [...nonces.flatMap((n) => frame(pingPayload(n))), ...partial];
        for (const piece of chunks(rng, new Uint8Array(bytes), rng.int(1, 3))) {
          await send(piece, 0, true);
        }
        env.stats.frames += nonces.length;
        if (!halfClose) break;
        await conn.closeWrite();
        await waitForServerClose();
        assert.ok(!conn.reset, "the server reset the connection instead of closing it");
        const own = ownReplies();
        const pongs = own.filter((m) => m.body.case === "pong").map((m) =>
          m.body.value as { nonce: bigint }
        );
        same(
          pongs.map((p) => p.nonce),
          nonces,
          "the pongs before the unfinished frame",
        );
        const rest = own.filter((m) => m.body.case !== "pong");
        if (rest.length > 0) {
          assert.ok(lowest > MAX_FRAME, `unexpected replies: ${rest.map(describeMessage)}`);
          assert.equal(rest.length, 1);
          assert.ok(
            rest[0].body.case === "error" && rest[0].body.value.code === ErrorCode.FRAME_TOO_LARGE,
          );
        }
        break;
      }
      case "oversize": {
        // FRAME_TOO_LARGE, fatal, the last message, then the server closes.
        const nonces = Array.from({ length: rng.int(0, 2) }, (_, i) => (1n << 60n) + BigInt(i));
        let prefix: number[];
        let length: number | undefined;
        if (rng.bool(0.7)) {
          length = rng.weighted([
            [2, MAX_FRAME + 1],
            [3, rng.int(MAX_FRAME + 1, 100_000)],
            [2, rng.int(100_001, 2 ** 32)],
            [1, 2 ** 35 - 1],
          ]);
          const size = varint(length).length;
          prefix = paddedVarint(length, rng.bool(0.3) ? rng.int(size, 5) : size);
        } else {
          // Six bytes or more: every one of the first five has its continuation bit set.
          // Sometimes with a value that would fit (zero padding): the byte count alone is wrong.
          const low = rng.bool(0.4) ? () => 0 : () => rng.int(0, 0x7f);
          prefix = [
            ...Array.from({ length: 5 }, () => 0x80 | low()),
            ...Array.from({ length: rng.int(0, 5) }, () => 0x80 | low()),
            low(),
          ];
        }
        const junk = rng.bool(0.6) ? rng.bytes(rng.int(1, 2000)) : [];
        info.notes.push(
          `pings ${nonces}, then prefix ${hex(prefix)} (length ${
            length ?? "over 5 bytes"
          }), ${junk.length} junk bytes`,
        );
        const bytes = [...nonces.flatMap((n) => frame(pingPayload(n))), ...prefix];
        for (const piece of chunks(rng, new Uint8Array(bytes), rng.int(1, 3))) {
          await send(piece, 0, true);
        }
        env.stats.frames += nonces.length;
        if (junk.length > 0) await send(junk, 0, true);
        await conn.until(
          () => conn.messages.some((m) => m.body.case === "error"),
          "FRAME_TOO_LARGE",
        );
        await waitForServerClose();
        const own = ownReplies();
        same(
          own.map(describeMessage),
          [...nonces.map((n) => `pong ${n}`), "error FRAME_TOO_LARGE fatal seq=0"],
          "the replies to pings and an oversize frame",
        );
        const error = own[own.length - 1].body.value as { message: string };
        if (length !== undefined) {
          assert.ok(
            error.message.includes(String(length)),
            `the error names the length: ${error.message}`,
          );
        }
        assert.equal(conn.messages.at(-1), own.at(-1), "FRAME_TOO_LARGE is the last message");
        break;
      }
      case "frames":
      case "split": {
        await framesCase(info, rng, ctx, state, conn, send, ownReplies, env);
        break;
      }
    }
    ownReplies();
    for (const message of conn.messages) {
      if (message.body.case !== "error") continue;
      const name = ErrorCode[message.body.value.code] ?? String(message.body.value.code);
      env.stats.errors.set(name, (env.stats.errors.get(name) ?? 0) + 1);
    }
  } finally {
    conn.close();
    await conn.done;
  }
}

async function framesCase(
  info: CaseInfo,
  rng: Rng,
  ctx: GenContext,
  state: ReplyState,
  conn: FuzzConn,
  send: (bytes: number[] | Uint8Array, frames: number) => Promise<void>,
  ownReplies: () => ServerMessage[],
  env: CaseEnv,
): Promise<void> {
  const split = info.kind === "split";
  const count = split
    ? rng.int(1, 3)
    : rng.weighted([[4, rng.int(1, 4)], [2, rng.int(5, 12)], [1, rng.int(13, 30)]]);
  const modelledShare = rng.pick([0, 0.5, 0.8, 1]);
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) {
    const next = rng.bool(modelledShare) ? modelledFrame(ctx) : fuzzedFrame(ctx);
    if (next.expect.kind === "any") env.stats.fuzzed++;
    else env.stats.modelled++;
    frames.push(next);
  }
  // With a ping after every frame, each frame's replies are told apart.
  const sentinels = rng.bool(0.6);
  const sentinel = (i: number) => (1n << 60n) | (BigInt(info.index) << 8n) | BigInt(i);
  const last = (1n << 61n) | BigInt(info.index);
  const payloads: number[][] = [];
  frames.forEach((f, i) => {
    payloads.push(f.payload);
    if (sentinels) payloads.push(pingPayload(sentinel(i)));
  });
  payloads.push(pingPayload(last));
  // Length prefixes are sometimes padded: a 5-byte varint is still a valid prefix.
  const bytes = new Uint8Array(
    payloads.flatMap((p) => frame(p, rng.bool(0.1) ? rng.int(1, 5) : 0)),
  );
  const ending = rng.pick(["FIN at once", "close after pong", "FIN after pong"]);
  info.notes.push(
    `${frames.length} frames${sentinels ? ", each followed by a ping" : ""}, ${ending}:`,
    ...frames.map((f, i) =>
      `frame ${i}: ${f.label} (${f.payload.length} bytes): ${hex(f.payload, 48)}`
    ),
  );
  const pieces = split
    ? (() => {
      const out: Uint8Array[] = [];
      for (let at = 0; at < bytes.length;) {
        const size = rng.int(1, 3);
        out.push(bytes.subarray(at, at + size));
        at += size;
      }
      return out;
    })()
    : chunks(rng, bytes, rng.weighted([[3, 1], [1, rng.int(2, 6)]]));
  for (let i = 0; i < pieces.length; i++) {
    await send(pieces[i], i === pieces.length - 1 ? payloads.length : 0);
  }
  if (ending === "FIN at once") await conn.closeWrite();
  // The last ping's pong proves every frame before it was handled.
  await conn.until(
    () => conn.messages.some((m) => m.body.case === "pong" && m.body.value.nonce === last),
    `the pong ${last}`,
  );
  if (ending === "FIN after pong") await conn.closeWrite();
  if (ending !== "close after pong") {
    await conn.until(() => conn.ended, "the server to close after our FIN");
    assert.ok(!conn.reset, "the server reset the connection instead of closing it");
  }
  const own = ownReplies();
  state.registry = env.registry;
  const isPong = (m: ServerMessage, nonce: bigint) =>
    m.body.case === "pong" && m.body.value.nonce === nonce;
  let at = 0;
  const upTo = (nonce: bigint): ServerMessage[] => {
    const end = own.findIndex((m, i) => i >= at && isPong(m, nonce));
    assert.ok(end >= 0, `no pong ${nonce} in the replies`);
    const segment = own.slice(at, end);
    at = end + 1;
    return segment;
  };
  if (sentinels) {
    frames.forEach((f, i) => {
      try {
        checkReplies(f.expect, upTo(sentinel(i)), state);
      } catch (error) {
        throw new Error(`frame ${i} (${f.label}): ${(error as Error).message}`, { cause: error });
      }
    });
    same(upTo(last), [], "replies after the last frame's ping");
  } else {
    const segment = upTo(last);
    if (frames.every((f) => f.expect.kind !== "any")) {
      for (const [i, f] of frames.entries()) {
        const replies = f.expect.kind === "none" ? [] : segment.splice(0, 1);
        try {
          checkReplies(f.expect, replies, state);
        } catch (error) {
          throw new Error(`frame ${i} (${f.label}): ${(error as Error).message}`, { cause: error });
        }
      }
      same(segment.map(describeMessage), [], "more replies than frames");
    } else {
      assert.ok(
        segment.length <= frames.length,
        `${segment.length} replies to ${frames.length} frames`,
      );
      for (const reply of segment) checkAnyReply(reply, state);
    }
  }
  same(own.slice(at).map(describeMessage), [], "replies after the last pong");
}

// ---------------------------------------------------------------------------
// The test

function envNumber(name: string): number | undefined {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") return undefined;
  const number = Number(value);
  if (!Number.isFinite(number)) throw new Error(`${name} is not a number: ${value}`);
  return number;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("fuzz - the server survives random and malformed input, answers each connection by the protocol and delivers every broadcast exactly once, in order", async () => {
  const seconds = envNumber("FUZZ_SECONDS") ?? 5;
  const seed = (envNumber("FUZZ_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0]) >>> 0;
  const onlyCase = envNumber("FUZZ_CASE");
  console.log(
    `fuzz seed=${seed} seconds=${seconds}${onlyCase === undefined ? "" : ` case=${onlyCase}`}`,
  );
  const replay = `replay with FUZZ_SEED=${seed}`;

  await using server = await ServerProcess.start(SERVER_ARGS);
  let serverExit: Deno.CommandStatus | undefined;
  server.process.status.then((status) => serverExit = status);

  // Three well-behaved clients, named, connected all along.
  const wellBehaved: TestClient[] = [];
  await using a = await TestClient.connect(server.port);
  await using b = await TestClient.connect(server.port);
  await using c = await TestClient.connect(server.port);
  wellBehaved.push(a, b, c);
  const ended = new Set<TestClient>();
  for (const client of wellBehaved) client.closed.then(() => ended.add(client));
  for (const [i, client] of wellBehaved.entries()) {
    await client.send({ body: { case: "hello", value: { nickname: WELL_BEHAVED_NICKNAMES[i] } } });
    await client.nextMatching(
      (m) =>
        m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED &&
        m.body.value.sessionId === client.sessionId,
      WAIT_MS,
      "the rename",
    );
  }
  // Each sees C's rename: the hub's events from there on must be the same for all three.
  const starts = await Promise.all(wellBehaved.map(async (client) => {
    const renamed = await client.seen(
      (m) =>
        m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED &&
        m.body.value.sessionId === c.sessionId,
      WAIT_MS,
    );
    return client.received.indexOf(renamed);
  }));
  const wellBehavedUsers = wellBehaved.map((client, i) => ({
    id: client.sessionId,
    nickname: WELL_BEHAVED_NICKNAMES[i],
  }));

  const stats: Stats = {
    cases: Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>,
    connections: 0,
    frames: 0,
    bytes: 0,
    modelled: 0,
    fuzzed: 0,
    errors: new Map(),
    ownBroadcasts: 0,
  };
  const registry: BroadcastRegistry = new Map();
  const env: CaseEnv = { port: server.port, stats, registry, wellBehaved: wellBehavedUsers };

  // Two broadcasters at a steady pace until the fuzzing is over; one message after it.
  let fuzzing = true;
  let failure: Error | undefined;
  const serverState = () =>
    (serverExit === undefined ? "" : `\nthe server exited: ${JSON.stringify(serverExit)}`) +
    `\nserver stderr:\n${server.stderr.text.slice(-2000)}`;
  const broadcasters = [a, b].map(async (client, i) => {
    const nickname = WELL_BEHAVED_NICKNAMES[i];
    let seq = 0;
    try {
      while (seq < MAX_BROADCASTS_PER_SENDER && failure === undefined) {
        const stopAfterThis = !fuzzing;
        await client.send({
          body: {
            case: "chat",
            value: {
              content: `${nickname}/${seq}`,
              action: Action.BROADCAST,
              clientSeq: BigInt(seq),
            },
          },
        });
        seq++;
        if (stopAfterThis) break;
        await delay(BROADCAST_INTERVAL_MS);
      }
    } catch (error) {
      failure ??= new Error(
        `fuzz seed=${seed} (${replay}) failed: ${nickname} could not send broadcast ${seq}: ` +
          `${error}${serverState()}`,
        { cause: error },
      );
    }
    return seq;
  });

  // The fuzz cases, CONCURRENCY at a time, until the time is up.
  const master = new Rng(seed);
  const endAt = Date.now() + seconds * 1000;
  let nextIndex = 0;
  const takeCase = (): CaseInfo | undefined => {
    if (failure !== undefined || serverExit !== undefined || nextIndex >= MAX_CASES) {
      return undefined;
    }
    if (onlyCase !== undefined) {
      if (nextIndex > onlyCase) return undefined;
      while (nextIndex < onlyCase) {
        master.uint32();
        nextIndex++;
      }
    } else if (Date.now() >= endAt) return undefined;
    const index = nextIndex++;
    const caseSeed = master.uint32();
    const kind = new Rng(caseSeed ^ 0x5bd1e995).weighted<Kind>([
      [15, "random"],
      [10, "truncated"],
      [15, "oversize"],
      [45, "frames"],
      [15, "split"],
    ]);
    return { index, seed: caseSeed, kind, notes: [], writes: [] };
  };
  const worker = async () => {
    for (let info = takeCase(); info !== undefined; info = takeCase()) {
      stats.cases[info.kind]++;
      try {
        await runCase(env, info);
      } catch (error) {
        failure ??= new Error(
          `fuzz seed=${seed} (${replay}, FUZZ_CASE=${info.index} for this case alone) failed:\n` +
            `${(error as Error).message}\n${describeCase(info)}${serverState()}`,
          { cause: error },
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  fuzzing = false;
  const sent = await Promise.all(broadcasters);
  if (failure !== undefined) {
    const status = await deadline(server.process.status, 1000, "exit").catch(() => undefined);
    failure.message += status === undefined
      ? "\nthe server process is still running"
      : `\nthe server process exited: ${json(status)}`;
    throw failure;
  }

  // The server is alive and well: a fresh client gets a Welcome and a Pong.
  assert.equal(serverExit, undefined, `the server exited during the fuzzing; ${replay}`);
  await using fresh = await TestClient.connect(server.port);
  await fresh.send({ body: { case: "ping", value: { nonce: 42n } } });
  assert.equal((await fresh.next("pong", WAIT_MS)).nonce, 42n);

  // Every well-behaved client got every broadcast, once, in order, in one global order.
  const senders = [a, b];
  const orders: string[][] = [];
  const hubEvents: string[][] = [];
  const fuzzBroadcasts: Map<string, number>[] = [];
  for (const [i, client] of wellBehaved.entries()) {
    const name = WELL_BEHAVED_NICKNAMES[i];
    for (const [s, sender] of senders.entries()) {
      await client.seen(
        (m) =>
          m.body.case === "chat" && m.body.value.fromSessionId === sender.sessionId &&
          m.body.value.clientSeq === BigInt(sent[s] - 1),
        WAIT_MS,
      );
    }
    assert.ok(!ended.has(client), `${name} was disconnected; ${replay}`);
    const errors = client.received.filter((m) => m.body.case === "error").map(describeMessage);
    same(errors, [], `${name} got errors; ${replay}`);
    const known = client.received.flatMap((m) =>
      m.body.case === "chat" &&
        senders.some((s) =>
          s.sessionId === (m.body.value as { fromSessionId: bigint }).fromSessionId
        )
        ? [m.body.value]
        : []
    );
    for (const [s, sender] of senders.entries()) {
      const senderName = WELL_BEHAVED_NICKNAMES[s];
      const events = known.filter((e) => e.fromSessionId === sender.sessionId);
      same(
        events.map((e) => `${Action[e.action]} ${e.fromNickname} ${e.clientSeq} ${e.content}`),
        Array.from(
          { length: sent[s] },
          (_, seq) => `BROADCAST ${senderName} ${seq} ${senderName}/${seq}`,
        ),
        `${name}: the broadcasts from ${senderName}, each exactly once, in order; ${replay}`,
      );
    }
    orders.push(known.map((e) => e.content));
    // The hub's events (broadcasts and presence) from the setup to the last broadcast.
    const lastIndex = Math.max(
      ...senders.map((sender, s) =>
        client.received.findIndex((m) =>
          m.body.case === "chat" && m.body.value.fromSessionId === sender.sessionId &&
          m.body.value.clientSeq === BigInt(sent[s] - 1)
        )
      ),
    );
    const stream = client.received.slice(starts[i] + 1, lastIndex + 1).filter((m) =>
      m.body.case === "chat" || m.body.case === "presence"
    );
    hubEvents.push(
      stream.map((m) =>
        m.body.case === "chat"
          ? `chat ${broadcastKey(m.body.value)} ${m.body.value.action}`
          : describeMessage(m) + ` ${(m.body.value as { online: number }).online}`
      ),
    );
    const counts = new Map<string, number>();
    for (const m of stream) {
      if (m.body.case === "chat") {
        counts.set(broadcastKey(m.body.value), (counts.get(broadcastKey(m.body.value)) ?? 0) + 1);
      }
    }
    fuzzBroadcasts.push(counts);
  }
  same(
    orders[1],
    orders[0],
    `wb-b and wb-a saw the broadcasts in different orders; ${replay}`,
  );
  same(
    orders[2],
    orders[0],
    `wb-c and wb-a saw the broadcasts in different orders; ${replay}`,
  );
  for (let i = 1; i < hubEvents.length; i++) {
    const first = hubEvents[i].findIndex((e, j) => e !== hubEvents[0][j]);
    assert.ok(
      first === -1 && hubEvents[i].length === hubEvents[0].length,
      `${WELL_BEHAVED_NICKNAMES[i]} and wb-a saw different hub events from #${first}: ` +
        `${shorten(hubEvents[i][first], 120)} vs ${shorten(hubEvents[0][first], 120)}; ${replay}`,
    );
  }
  // Each broadcast a fuzz session saw come back reached every well-behaved client exactly as often.
  for (const [key, count] of registry) {
    for (const [i, counts] of fuzzBroadcasts.entries()) {
      assert.equal(
        counts.get(key) ?? 0,
        count,
        `${WELL_BEHAVED_NICKNAMES[i]}: fuzz broadcast ${shorten(key, 120)}; ${replay}`,
      );
    }
  }

  // Once the fuzz connections are gone, who lists exactly the well-behaved clients and the fresh one.
  const expectedUsers = [...wellBehavedUsers, {
    id: fresh.sessionId,
    nickname: `guest-${fresh.sessionId}`,
  }]
    .map((u) => `${u.id}:${u.nickname}`);
  const giveUpAt = Date.now() + WAIT_MS;
  let users: string[] = [];
  while (true) {
    await c.send({ body: { case: "who", value: {} } });
    users = (await c.next("who", WAIT_MS)).users.map((u) => `${u.sessionId}:${u.nickname}`);
    if (users.join() === expectedUsers.join() || Date.now() > giveUpAt) break;
    await delay(50);
  }
  same(users, expectedUsers, `who after the fuzzing; ${replay}`);

  // A graceful stop: SHUTTING_DOWN to everyone, exit code 0.
  const status = await server.stop("SIGINT");
  assert.equal(
    status.code,
    0,
    `the server's exit status; ${replay}\n${server.stderr.text.slice(-2000)}`,
  );
  for (const client of [...wellBehaved, fresh]) {
    await deadline(client.closed, WAIT_MS, "the connection to close on shutdown");
    const lastMessage = client.received.at(-1)!;
    assert.ok(
      lastMessage.body.case === "error" && lastMessage.body.value.code === ErrorCode.SHUTTING_DOWN,
      `the last message on shutdown: ${describeMessage(lastMessage)}`,
    );
  }
  const troubles = server.stdout.lines.filter((line) => / ERROR |unexpected error/.test(line));
  same(troubles, [], `the server logged errors; ${replay}`);
  assert.doesNotMatch(
    server.stderr.text,
    /panic|uncaught|error/i,
    `the server's stderr; ${replay}`,
  );

  const byKind = KINDS.map((k) => `${k}=${stats.cases[k]}`).join(", ");
  const errors = [...stats.errors].sort().map(([code, n]) => `${code}=${n}`).join(", ");
  const totalCases = KINDS.reduce((sum, k) => sum + stats.cases[k], 0);
  console.log(
    `fuzz done: seed=${seed} seconds=${seconds} cases=${totalCases} (${byKind}) ` +
      `connections=${stats.connections} frames=${stats.frames} bytes=${stats.bytes} ` +
      `payloads: modelled=${stats.modelled} fuzzed=${stats.fuzzed}; ` +
      `broadcasts checked=${(sent[0] + sent[1]) * 3} (wb-a ${sent[0]} + wb-b ${
        sent[1]
      }, at 3 clients), ` +
      `fuzz broadcasts cross-checked=${registry.size} of ${stats.ownBroadcasts} seen, ` +
      `hub events compared=${hubEvents[0].length}; errors received: ${errors}`,
  );
});
