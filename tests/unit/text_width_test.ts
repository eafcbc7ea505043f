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

Deno.test("text width - emoji take two columns, and each emoji of a sequence counts", () => {
  assert.equal(textWidth("🙂🎉"), 4);
  assert.equal(textWidth("👍🏽"), 4); // the skin tone modifier is an emoji too
  assert.equal(textWidth("👨\u200d👩\u200d👧"), 6); // ZWJ takes none
  assert.equal(textWidth("❤\ufe0f"), 1); // a text-style symbol, with its selector taking none
});

Deno.test("text width - combining marks and format characters take none", () => {
  assert.equal(textWidth("e\u0301"), 1);
  assert.equal(textWidth("\u0301"), 0);
  assert.equal(textWidth("a\u200bb"), 2);
  assert.equal(textWidth("\u1100\u1161"), 2); // a Hangul syllable in conjoining Jamo
  assert.equal(textWidth("क्ष"), 2); // Devanagari: the virama joins two consonants
});
