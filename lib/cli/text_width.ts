/**
 * How many terminal columns printable `text` (see printable.ts) takes, counted
 * as terminals built on wcwidth count (tmux, xterm, the Windows console): East
 * Asian Wide and Fullwidth characters and emoji take two, combining marks and
 * format characters (ZWJ, variation selectors) none, everything else one. Each
 * code point counts on its own, as in those terminals, so a ZWJ sequence is as
 * wide as its emoji together.
 */
export function textWidth(text: string): number {
  let width = 0;
  for (const character of text) width += characterWidth(character);
  return width;
}

function characterWidth(character: string): number {
  const code = character.codePointAt(0)!;
  // Below the combining marks (the soft hyphen included, which terminals show): one column.
  if (code < 0x300) return 1;
  // Hangul medial vowels and final consonants join the syllable begun before them.
  if (ZERO_WIDTH.test(character) || (code >= 0x1160 && code <= 0x11ff)) return 0;
  return EMOJI.test(character) || isWide(code) ? 2 : 1;
}

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]/u;
const EMOJI = /^\p{Emoji_Presentation}/u;

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

function isWide(code: number): boolean {
  for (let i = 0; i < WIDE_RANGES.length && code >= WIDE_RANGES[i]; i += 2) {
    if (code <= WIDE_RANGES[i + 1]) return true;
  }
  return false;
}
