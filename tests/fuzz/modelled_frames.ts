import { Action, ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { MAX_CONTENT, MAX_FRAME, WELL_BEHAVED_NICKNAMES } from "./fuzz_settings.ts";
import { clientMessage, fields, scalar, stringField, unknownField } from "./message_fields.ts";
import {
  lenField,
  tag,
  utf8,
  utf8Length,
  varintField,
  WIRE_EGROUP,
  WIRE_I32,
  WIRE_I64,
  WIRE_LEN,
  WIRE_SGROUP,
  WIRE_VARINT,
} from "./protobuf_wire.ts";
import { nicknameKey } from "../../lib/protocol/nickname.ts";
import type { Rng } from "./rng.ts";
import { badUtf8, text } from "./text.ts";

/** The one reply (or none) a frame gets, from the protocol's rules. */
export type Expect =
  | { kind: "none" }
  | { kind: "pong"; nonce: bigint }
  | { kind: "who" }
  | { kind: "chat"; action: Action; content: string; clientSeq: bigint }
  | { kind: "renamed"; nickname: string }
  | { kind: "error"; codes: ErrorCode[]; clientSeq?: bigint }
  /** Mutated or random: at most one reply, of any kind a frame may get. */
  | { kind: "any" };

/** A ClientMessage payload (no framing) and the reply it must get. */
export interface Frame {
  payload: number[];
  expect: Expect;
  label: string;
}

/** What a case's generator knows while it writes frames. */
export interface GenContext {
  rng: Rng;
  me: bigint;
  /** This session's nickname, while the frames so far make it certain. */
  nickname: string | undefined;
  /** Nicknames this session held and gave up, free again while the frames so far make it certain. */
  formerNicknames: string[];
  /** Random letters that make this case's nicknames its own. */
  token: string;
  names: number;
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
  const unknownAction = action !== Action.ECHO && action !== Action.BROADCAST &&
    action !== Action.PRIVATE;
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
  // A private message with no recipient: nobody is called "".
  else if (action === Action.PRIVATE) {
    expect = { kind: "error", codes: [ErrorCode.NO_SUCH_USER], clientSeq };
  } else expect = { kind: "chat", action: action as Action, content, clientSeq };
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
  const known = ctx.nickname !== undefined;
  const guest = ctx.nickname?.toLowerCase() === `guest-${ctx.me}`;
  const choice = rng.weighted<string>([
    [3, "unique"],
    [2, "taken"],
    [2, "invalid"],
    [1, "empty"],
    [1, "other-guest"],
    [known ? 1 : 0, "same"],
    [known && !guest ? 1 : 0, "own-case"],
    [known && !guest ? 1 : 0, "former-guest"],
    [ctx.formerNicknames.length > 0 ? 1 : 0, "former"],
    [guest ? 1 : 0, "own-guest"],
  ]);
  let nickname: string;
  let expect: Expect;
  switch (choice) {
    case "unique": {
      // Scripts, marks and a decomposed é, which the server stores composed (NFC).
      const base = rng.pick(["fz", "Ünï", "日本", "ক্ষ", "e\u0301", "Ωμέγα", "_", "."]);
      nickname = `${base}${ctx.token}${ctx.names++}`;
      expect = renamed(ctx, nickname);
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
    case "former-guest":
      // Its guest name is a session's own only while it holds it.
      nickname = toggleCase(rng, `guest-${ctx.me}`);
      expect = { kind: "error", codes: [ErrorCode.NICKNAME_INVALID] };
      break;
    case "same":
      // Only confirmed, to this session alone.
      nickname = ctx.nickname!;
      expect = { kind: "renamed", nickname };
      break;
    case "own-case":
      // The same name to everyone else; a new spelling of it.
      nickname = toggleCase(rng, ctx.nickname!);
      expect = renamed(ctx, nickname);
      break;
    case "former":
      // Given up by this session, so free again at once.
      nickname = rng.pick(ctx.formerNicknames);
      expect = renamed(ctx, nickname);
      break;
    case "own-guest":
      // A guest may keep its own guest name, in any case.
      nickname = toggleCase(rng, `guest-${ctx.me}`);
      expect = renamed(ctx, nickname);
      break;
    default:
      nickname = "";
      expect = { kind: "none" };
  }
  const body = fields(rng, [stringField(rng, 1, nickname), stringField(rng, 2, client)]);
  return {
    payload: clientMessage(rng, 1, body),
    expect,
    label: `hello ${choice} ${JSON.stringify(nickname)}${client === "" ? "" : " with client"}`,
  };
}

/** Follows a rename the server must make, and says what it answers. */
function renamed(ctx: GenContext, requested: string): Expect {
  const nickname = requested.normalize("NFC");
  const previous = ctx.nickname;
  ctx.formerNicknames = ctx.formerNicknames.filter((n) => nicknameKey(n) !== nicknameKey(nickname));
  if (
    previous !== undefined && nicknameKey(previous) !== nicknameKey(nickname) &&
    !previous.toLowerCase().startsWith("guest-")
  ) ctx.formerNicknames.push(previous);
  ctx.nickname = nickname;
  return { kind: "renamed", nickname };
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
      ? varintField(rng.int(16, 31), rng.int(0, 127))
      : lenField(rng.int(16, 31), rng.bytes(rng.int(0, 20)));
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

/** A frame whose reply the protocol predicts, of any kind. */
export function modelledFrame(ctx: GenContext): Frame {
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
    const saved = { nickname: ctx.nickname, former: ctx.formerNicknames };
    const generated = generator(ctx);
    if (generated.payload.length <= MAX_FRAME) return generated;
    ctx.nickname = saved.nickname;
    ctx.formerNicknames = saved.former;
  }
  return pingFrame(ctx);
}
