import type { Rng } from "./rng.ts";
import { utf8, utf8Length } from "./protobuf_wire.ts";

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
export function text(rng: Rng, bytes: number, exact = false): string {
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
export const BAD_UTF8 = [
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

/** Text with one sequence that is not UTF-8 in it. */
export function badUtf8(rng: Rng): number[] {
  return [
    ...utf8(text(rng, rng.int(0, 20))),
    ...rng.pick(BAD_UTF8),
    ...utf8(text(rng, rng.int(0, 20))),
  ];
}
