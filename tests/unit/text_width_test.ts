import assert from "node:assert/strict";
import { textWidth } from "../../lib/cli/text_width.ts";

Deno.test("text width - one column a character in alphabetic scripts and symbols", () => {
  assert.equal(textWidth(""), 0);
  assert.equal(textWidth("hello, world"), 12);
  assert.equal(textWidth("José Ωμέγα Привет"), 17);
  assert.equal(textWidth("\u2403\u2409\ufffd"), 3); // what printable() shows for controls
  assert.equal(textWidth("soft\u00adhyphen"), 11);
});

Deno.test("text width - East Asian wide and fullwidth characters take two columns", () => {
  assert.equal(textWidth("日本語"), 6);
  assert.equal(textWidth("ひらがな カタカナ"), 17);
  assert.equal(textWidth("한국어"), 6);
  assert.equal(textWidth("ＡＢＣ"), 6);
  assert.equal(textWidth("\u3000"), 2); // the ideographic space
  assert.equal(textWidth("𠀋"), 2); // plane 2
});

Deno.test("text width - emoji take two columns, a sequence of them as tmux 3.3a draws it", () => {
  assert.equal(textWidth("🙂🎉"), 4);
  assert.equal(textWidth("🇯🇵"), 2); // two one-column flag letters
  assert.equal(textWidth("🇯"), 1);
  assert.equal(textWidth("👩\u200d👩\u200d👧\u200d👦"), 2); // tmux draws each after a ZWJ in one cell
  assert.equal(textWidth("🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}"), 2); // tags take none
  assert.equal(textWidth("🏳\ufe0f\u200d🌈"), 1); // a text-style flag, the rainbow in its cell
  assert.equal(textWidth("a\u200d日"), 1); // tmux joins any wide character after a ZWJ
  assert.equal(textWidth("a\u200db"), 2);
});

Deno.test("text width - where tmux and grapheme-aware terminals disagree, the narrower count", () => {
  assert.equal(textWidth("👍🏽"), 2); // tmux: 4, others 2
  assert.equal(textWidth("👨🏽\u200d💻"), 2); // tmux: 4
  assert.equal(textWidth("❤\ufe0f"), 1); // others: 2
  assert.equal(textWidth("1\ufe0f\u20e3"), 1); // a keycap; others: 2
});

Deno.test("text width - combining marks and format characters take none", () => {
  assert.equal(textWidth("e\u0301"), 1);
  assert.equal(textWidth("\u0301"), 0);
  assert.equal(textWidth("a\u200bb"), 2);
  assert.equal(textWidth("\u1100\u1161"), 2); // a Hangul syllable in conjoining Jamo
  assert.equal(textWidth("क्ष"), 2); // Devanagari: the virama joins two consonants
  assert.equal(textWidth("\u1100\u1161\u11a8"), 2);
  assert.equal(textWidth("\ud7b0"), 0); // Hangul Jamo extended B, medial vowel
  assert.equal(textWidth("\uac00\ud7b0"), 2);
  assert.equal(textWidth("\u0600"), 1); // an Arabic number sign, drawn though a format character
  assert.equal(textWidth("\u0600b"), 2);
});
