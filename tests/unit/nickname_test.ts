import assert from "node:assert/strict";
import {
  guestNickname,
  MAX_NICKNAME_CHARACTERS,
  nicknameKey,
  nicknameProblem,
} from "../../lib/protocol/nickname.ts";

const OWN = "guest-3";

Deno.test("nicknameProblem - accepts letters, marks, digits, '_', '-' and '.' in any script", () => {
  for (
    const nickname of [
      "alice",
      "김철수",
      "a".repeat(32),
      "a_b-c.d",
      "José",
      "Zoë",
      "e\u0301", // "é" decomposed: a letter and a combining mark
      "Ελένη",
      "Влад",
      "हिन्दी", // Devanagari with vowel signs (marks)
      "123",
      "٣٤٥", // Arabic-Indic digits are \p{Nd}
      "_",
      ".",
      "-",
    ]
  ) {
    assert.equal(nicknameProblem(nickname, OWN), undefined, nickname);
  }
});

Deno.test("nicknameProblem - counts length in code points, not UTF-16 units", () => {
  // U+1D49C MATHEMATICAL SCRIPT CAPITAL A: a letter outside the BMP, 2 UTF-16 units.
  const script = "\u{1d49c}";
  assert.equal(script.length, 2);
  assert.equal(nicknameProblem(script.repeat(MAX_NICKNAME_CHARACTERS), OWN), undefined);
  assert.equal(
    nicknameProblem(script.repeat(MAX_NICKNAME_CHARACTERS + 1), OWN),
    "Nickname is 33 characters long; the limit is 32",
  );
  assert.equal(nicknameProblem("김".repeat(32), OWN), undefined);
});

Deno.test("nicknameProblem - rejects empty and over-long nicknames", () => {
  assert.equal(nicknameProblem("", OWN), "Nickname is empty");
  assert.equal(
    nicknameProblem("a".repeat(33), OWN),
    "Nickname is 33 characters long; the limit is 32",
  );
});

Deno.test("nicknameProblem - rejects spaces, emoji, punctuation and control characters", () => {
  for (
    const nickname of [
      "a b",
      " alice",
      "alice ",
      "\t",
      "bob😀",
      "😀",
      "a/b",
      "a@b",
      "a,b",
      "a\u0000b",
      "a\nb",
      "a\u200bb", // zero-width space
    ]
  ) {
    assert.match(
      nicknameProblem(nickname, OWN) ?? "",
      /may only hold letters, digits, "_", "-" and "."$/,
      JSON.stringify(nickname),
    );
  }
});

Deno.test("nicknameProblem - reserves guest names for their own session only", () => {
  const reserved = 'Nicknames starting with "guest-" are reserved for guests';
  assert.equal(nicknameProblem("guest-5", "guest-3"), reserved);
  assert.equal(nicknameProblem("GUEST-9", "guest-3"), reserved);
  assert.equal(nicknameProblem("Guest-x", "alice"), reserved);
  assert.equal(nicknameProblem("guest-", "alice"), reserved);
  // Fullwidth letters fold to ASCII under NFKC.
  assert.equal(nicknameProblem("ｇｕｅｓｔ-5", "alice"), reserved);
  // A session may keep, or re-case, its own guest name.
  assert.equal(nicknameProblem("guest-3", "guest-3"), undefined);
  assert.equal(nicknameProblem("GUEST-3", "guest-3"), undefined);
  // Not the prefix itself.
  assert.equal(nicknameProblem("guest", "alice"), undefined);
  assert.equal(nicknameProblem("guests", "alice"), undefined);
  assert.equal(nicknameProblem("my-guest-5", "alice"), undefined);
});

Deno.test("guestNickname - is guest- followed by the session id", () => {
  assert.equal(guestNickname(42n), "guest-42");
  assert.equal(nicknameProblem(guestNickname(42n), guestNickname(42n)), undefined);
});

Deno.test("nicknameKey - ignores case", () => {
  assert.equal(nicknameKey("Alice"), nicknameKey("alice"));
  assert.equal(nicknameKey("ALICE"), nicknameKey("aLiCe"));
  assert.equal(nicknameKey("ÉLODIE"), nicknameKey("élodie"));
  assert.equal(nicknameKey("ΕΛΈΝΗ"), nicknameKey("ελένη"));
  assert.notEqual(nicknameKey("alice"), nicknameKey("alicia"));
});

Deno.test("nicknameKey - composed and decomposed spellings are the same", () => {
  const composed = "\u00e9";
  const decomposed = "e\u0301";
  assert.notEqual(composed, decomposed);
  assert.equal(nicknameKey(composed), nicknameKey(decomposed));
  assert.equal(nicknameKey(`Jos${composed}`), nicknameKey(`JOS${decomposed}`));
  assert.equal(nicknameKey("\uac00"), nicknameKey("\u1100\u1161")); // Hangul 가
});

Deno.test("nicknameKey - nonspacing and enclosing marks are left out: names that differ by an accent, a dot or a ring collide", () => {
  for (
    const lookAlike of [
      "o\u0323wner1", // dot below
      "owner1\u0307", // dot above
      "owner1\u0332", // low line
      "owner1\u0e47", // Thai maitaikhu
      "owner1\u1dff", // combining right arrowhead and down arrowhead below
      "\u00f3wner1", // ó
      "\u00d2WNER1", // Ò
      "\u01d2wner1", // ǒ
      "owner1\u20dd", // enclosing circle
      "owner1\u0488", // Cyrillic hundred thousands sign
    ]
  ) {
    assert.equal(nicknameKey(lookAlike), nicknameKey("owner1"), JSON.stringify(lookAlike));
  }
  assert.equal(nicknameKey("José"), nicknameKey("Jose"));
  assert.equal(nicknameKey("e"), nicknameKey("\u00e9"));
});

Deno.test("nicknameProblem - more than 2 marks in a row are refused, 2 are fine", () => {
  const zalgo = `a${"\u0301".repeat(20)}`;
  assert.equal(
    nicknameProblem(zalgo, "guest-1"),
    "Nickname has more than 2 accents or other marks on one letter",
  );
  assert.notEqual(nicknameProblem("a\u0301\u0302\u0303b", "guest-1"), undefined);
  assert.equal(nicknameProblem("Nguy\u1ec5n", "guest-1"), undefined); // Vietnamese ễ
  assert.equal(nicknameProblem("a\u0301\u0302b\u0303", "guest-1"), undefined);
  assert.equal(nicknameProblem("नमस्ते", "guest-1"), undefined);
});

Deno.test("nicknameProblem - invisible characters and a leading mark are refused", () => {
  for (const sneaky of ["al\u034fice", "ali\u200bce", "alice\ufe0f", "\u0301alice", "\u00ad"]) {
    assert.notEqual(nicknameProblem(sneaky, "guest-1"), undefined, JSON.stringify(sneaky));
  }
  // A mark after a letter is fine: that is how many scripts are written.
  assert.equal(nicknameProblem("नमस्ते", "guest-1"), undefined);
});

Deno.test("nicknameKey - folds case beyond lower case: ß and SS, ς and σ", () => {
  assert.equal(nicknameKey("STRASSE"), nicknameKey("straße"));
  assert.equal(nicknameKey("ΟΔΥΣΣΕΥΣ"), nicknameKey("οδυσσευς"));
});

Deno.test("nicknameKey - look-alikes of alice are alice (UTS #39 skeleton)", () => {
  for (
    const lookAlike of [
      "ali\u0307ce", // i followed by a combining dot above: drawn as a plain i
      "\u0251lice", // Latin small alpha
      "\u0430lice", // Cyrillic а
      "\u03b1lice", // Greek α
      "ａｌｉｃｅ", // fullwidth
      "AL\u0406CE", // Cyrillic І in upper case
      "al\u0131ce", // dotless ı
    ]
  ) {
    assert.equal(nicknameKey(lookAlike), nicknameKey("alice"), JSON.stringify(lookAlike));
  }
});

Deno.test("nicknameKey - look-alikes in other places and scripts", () => {
  assert.equal(nicknameKey("\u0261uest-1"), nicknameKey("guest-1")); // Latin script ɡ
  assert.equal(nicknameKey("b\u03bfb"), nicknameKey("bob")); // Greek ο
  assert.equal(nicknameKey("B\u041eB"), nicknameKey("bob")); // Cyrillic О
  assert.equal(nicknameKey("rnallory"), nicknameKey("mallory")); // "rn" and "m"
  assert.equal(nicknameKey("MALLORY"), nicknameKey("rnallory"));
  assert.equal(nicknameKey("wa1do"), nicknameKey("waldo")); // "1" and "l"
  assert.equal(nicknameKey("ｍａｌｌｏｒｙ"), nicknameKey("mallory"));
});

Deno.test("nicknameKey - capitals that only the other case's skeleton would miss", () => {
  for (
    const [lookAlike, name] of [
      ["\u0392ob", "Bob"], // Greek capital beta
      ["\u0412ob", "Bob"], // Cyrillic capital ve
      ["\u039aate", "Kate"], // Greek capital kappa
      ["\u041aate", "Kate"], // Cyrillic capital ka
      ["\u13e6ate", "Kate"], // Cherokee tsv
      ["\u03a4om", "Tom"], // Greek capital tau
      ["\u0397enry", "Henry"], // Greek capital eta
      ["\u13aa\u13de\u13a5\u13df\u13ac", "alice"], // Cherokee
      ["alic\u13ac", "alice"],
      ["a\u0049ice", "alice"], // a capital I for the l
      ["\u1d00\u029f\u026a\u1d04\u1d07", "alice"], // small capitals
    ]
  ) {
    assert.equal(nicknameKey(lookAlike), nicknameKey(name), `${lookAlike} vs ${name}`);
  }
  // Case is still ignored in every script, though each case has look-alikes of its own.
  assert.equal(nicknameKey("ΟΔΥΣΣΕΥΣ"), nicknameKey("οδυσσευς"));
  assert.equal(nicknameKey("ΕΛΈΝΗ"), nicknameKey("ελένη"));
  assert.equal(nicknameKey("ВЛАД"), nicknameKey("влад"));
});

Deno.test("nicknameKey - names that look different stay different", () => {
  for (
    const [a, b] of [
      ["alice", "alicia"],
      ["bob", "bab"],
      ["guest-1", "guest-2"],
      ["guest-1", "guest-10"],
      ["김철수", "김철"],
      ["हिन्दी", "हनद"], // Devanagari vowel signs are kept, not stripped
      ["Влад", "Вла"],
    ]
  ) {
    assert.notEqual(nicknameKey(a), nicknameKey(b), `${a} vs ${b}`);
  }
  // Guest names stay apart from each other, whatever digits they hold.
  const keys = new Set<string>();
  for (let id = 0; id < 2000; id++) keys.add(nicknameKey(guestNickname(BigInt(id))));
  assert.equal(keys.size, 2000);
});

Deno.test("nicknameProblem - look-alikes of guest names are reserved too", () => {
  const reserved = 'Nicknames starting with "guest-" are reserved for guests';
  assert.equal(nicknameProblem("\u0261uest-1", "alice"), reserved); // Latin script ɡ
  assert.equal(nicknameProblem("\u0261uest-1", "guest-7"), reserved);
  assert.equal(nicknameProblem("gu\u0435st-7", "alice"), reserved); // Cyrillic е
  assert.equal(nicknameProblem("guest-l", "alice"), reserved); // "l" for "1"
  assert.equal(nicknameProblem("guest\u2cba7", "alice"), reserved); // Coptic dialect-p ni for "-"
  // The session's own guest name, however it is spelled, is still its own.
  assert.equal(nicknameProblem("\u0261uest-1", "guest-1"), undefined);
  // The displayed nickname is not changed by the check.
  assert.equal(nicknameProblem("\u0251lice", "guest-1"), undefined);
});
