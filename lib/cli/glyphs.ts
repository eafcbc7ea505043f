/** Text that a terminal puts in cells of its own: where it is in the string, and its columns. */
export interface Glyph {
  /** UTF-16 index of its first code point. */
  index: number;
  /** UTF-16 length, the combining marks and joined characters after it included. */
  length: number;
  width: number;
}

/**
 * Splits printable `text` (see ../ui/printable.ts) as terminals place it. Each code
 * point counts as wcwidth counts it (so as tmux 3.3a, xterm and the Windows
 * console do: East Asian Wide and Fullwidth characters and emoji two columns,
 * marks and format characters none), and tmux draws a wide character that
 * follows a ZWJ in the joiner's cell, as part of one emoji (👩‍👩‍👧‍👦 takes two).
 *
 * Terminals that draw by grapheme cluster (kitty, WezTerm, iTerm2, Windows
 * Terminal) take two columns for any emoji sequence. Where they and tmux
 * disagree, the narrower count wins: a prompt counted too wide makes the
 * renderer move up past its first row and erase a message line, one counted too
 * narrow only leaves a stale row of prompt. So a grapheme cluster whose code
 * points add up to more than two columns (👍🏽 is four in tmux) takes two, as one
 * glyph, and a cluster of two one-column code points (🇯🇵, क्ष) stays two glyphs
 * that tmux may split across rows; ❤️ and 1️⃣ take the one column tmux gives them.
 */
export function* glyphs(text: string): Generator<Glyph> {
  let afterJoiner = false;
  for (const { segment, index } of GRAPHEMES.segment(text)) {
    const parts: Glyph[] = [];
    let width = 0;
    for (let offset = 0; offset < segment.length;) {
      const code = segment.codePointAt(offset)!;
      const length = code > 0xffff ? 2 : 1;
      const columns = afterJoiner && codePointWidth(code) === 2 ? 0 : codePointWidth(code);
      afterJoiner = code === ZWJ;
      const last = parts.at(-1);
      if (columns === 0 && last !== undefined) last.length += length;
      else parts.push({ index: index + offset, length, width: columns });
      width += columns;
      offset += length;
    }
    if (width <= 2) yield* parts;
    else yield { index, length: segment.length, width: 2 };
  }
}

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const ZWJ = 0x200d;

function codePointWidth(code: number): number {
  // Below the combining marks (the soft hyphen included, which terminals show): one column.
  if (code < 0x300) return 1;
  // Flag letters: a pair is one flag, but each is one column in wcwidth.
  if (code >= 0x1f1e6 && code <= 0x1f1ff) return 1;
  if (isIn(VISIBLE_FORMAT, code)) return 1;
  // Hangul medial vowels and final consonants join the syllable begun before them.
  if (isIn(HANGUL_JOINING, code)) return 0;
  const character = String.fromCodePoint(code);
  if (ZERO_WIDTH.test(character)) return 0;
  return EMOJI.test(character) || isIn(WIDE_RANGES, code) ? 2 : 1;
}

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]/u;
const EMOJI = /^\p{Emoji_Presentation}/u;

/** Format characters drawn as a sign (Arabic number signs, prepended to the digits): one column. */
const VISIBLE_FORMAT = [
  0x0600,
  0x0605,
  0x06dd,
  0x06dd,
  0x070f,
  0x070f,
  0x0890,
  0x0891,
  0x08e2,
  0x08e2,
  0x110bd,
  0x110bd,
  0x110cd,
  0x110cd,
];

/** Hangul Jamo medial vowels and final consonants, and their extended-B block. */
const HANGUL_JOINING = [0x1160, 0x11ff, 0xd7b0, 0xd7ff];

/**
 * East Asian Wide and Fullwidth ranges that are not emoji (those come from the
 * regular expression, which follows the engine's newer Unicode). From Unicode
 * 14's EastAsianWidth.txt, with gaps of unassigned code points closed, so that
 * characters added later to these blocks count as wide too.
 */
const WIDE_RANGES = [
  0x1100,
  0x115f, // Hangul Jamo initial consonants
  0x2329,
  0x232a, // angle brackets
  0x2e80,
  0x303e, // CJK radicals, Kangxi, ideographic description, CJK symbols and punctuation
  0x3041,
  0x3247, // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo, Kanbun, CJK strokes
  0x3250,
  0x4dbf, // enclosed CJK, CJK compatibility, CJK extension A
  0x4e00,
  0xa4c6, // CJK unified ideographs, Yi
  0xa960,
  0xa97c, // Hangul Jamo extended A
  0xac00,
  0xd7a3, // Hangul syllables
  0xf900,
  0xfaff, // CJK compatibility ideographs
  0xfe10,
  0xfe19, // vertical forms
  0xfe30,
  0xfe6b, // CJK compatibility forms, small form variants
  0xff01,
  0xff60, // fullwidth forms
  0xffe0,
  0xffe6, // fullwidth signs
  0x16fe0,
  0x1b2fb, // Tangut, Khitan, Nüshu, Kana supplement and extensions
  0x1f200,
  0x1f265, // enclosed ideographic supplement
  0x20000,
  0x3fffd, // CJK extensions B and later, planes 2 and 3
];

/** Whether `code` is in one of the inclusive ranges of `ranges` (pairs of first and last, in order). */
function isIn(ranges: readonly number[], code: number): boolean {
  for (let i = 0; i < ranges.length && code >= ranges[i]; i += 2) {
    if (code <= ranges[i + 1]) return true;
  }
  return false;
}
