import {
  lenField,
  tag,
  utf8,
  varintField,
  WIRE_EGROUP,
  WIRE_I32,
  WIRE_I64,
  WIRE_LEN,
  WIRE_SGROUP,
  WIRE_VARINT,
} from "./protobuf_wire.ts";
import type { Rng } from "./rng.ts";
import { badUtf8, text } from "./text.ts";

/** One unknown field (number 16 or more: unknown to every message here), well-formed. */
export function unknownField(rng: Rng, depth = 0): number[] {
  const field = rng.weighted([
    [4, rng.int(16, 31)],
    [2, rng.int(32, 2047)],
    [1, rng.int(19000, 19999)],
    [1, 2 ** 29 - 1],
    [1, rng.int(16, 2 ** 29 - 1)],
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
export function fields(rng: Rng, parts: number[][], unknownChance = 0.3): number[] {
  const out: number[] = [];
  for (const part of rng.shuffle(parts)) {
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
export function clientMessage(rng: Rng, field: number, body: number[]): number[] {
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
export function scalar(
  rng: Rng,
  field: number,
  value: bigint | number,
  junk: () => bigint,
): number[] {
  const out: number[] = [];
  if (rng.bool(0.15)) out.push(...varintField(field, junk()));
  if (BigInt(value) !== 0n || rng.bool(0.5) || out.length > 0) {
    out.push(...varintField(field, value));
  }
  return out;
}

export function stringField(rng: Rng, field: number, value: string): number[] {
  const out: number[] = [];
  if (rng.bool(0.15)) out.push(...lenField(field, utf8(text(rng, rng.int(0, 30)))));
  if (value !== "" || rng.bool(0.5) || out.length > 0) out.push(...lenField(field, utf8(value)));
  return out;
}
