import { MAX_FRAME } from "./fuzz_settings.ts";
import { unknownField } from "./message_fields.ts";
import { type Frame, type GenContext, modelledFrame } from "./modelled_frames.ts";
import {
  tag,
  utf8,
  varint,
  WIRE_EGROUP,
  WIRE_I32,
  WIRE_I64,
  WIRE_LEN,
  WIRE_SGROUP,
  WIRE_VARINT,
} from "./protobuf_wire.ts";
import type { Rng } from "./rng.ts";
import { BAD_UTF8, badUtf8, text } from "./text.ts";

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

/** `original` with a few bytes flipped, replaced, inserted, cut or repeated. */
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

/** A frame whose reply is not predicted: mutated, protobuf soup or random bytes. */
export function fuzzedFrame(ctx: GenContext): Frame {
  const { rng } = ctx;
  const how = rng.weighted([[6, "mutated"], [3, "soup"], [1, "random bytes"]]);
  let payload: number[];
  let label: string;
  if (how === "mutated") {
    const base = modelledFrame(ctx);
    payload = mutate(rng, base.payload);
    label = `mutated ${base.label}`;
  } else if (how === "soup") {
    payload = soup(rng).slice(0, MAX_FRAME);
    label = "soup";
  } else {
    payload = rng.bytes(rng.int(0, 300));
    label = "random bytes";
  }
  // A mutated Hello may rename this session: from here on its names are unknown.
  ctx.nickname = undefined;
  ctx.formerNicknames = [];
  return { payload, expect: { kind: "any" }, label };
}

// ---------------------------------------------------------------------------
// A raw fuzz connection
