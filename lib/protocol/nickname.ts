import { CONFUSABLE_PROTOTYPES } from "./confusable_prototypes.ts";

/** The longest nickname, in characters (code points). */
export const MAX_NICKNAME_CHARACTERS = 32;

/** Default nicknames are "guest-<session id>"; nobody else may take one. */
const GUEST_PREFIX = "guest-";

// Marks (\p{M}) are part of letters in many scripts (Devanagari vowel signs, say),
// but may not come first, and invisible characters may not appear at all.
const ALLOWED = /^[\p{L}\p{Nd}_.\-][\p{L}\p{M}\p{Nd}_.\-]*$/u;
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;

export function guestNickname(sessionId: bigint): string {
  return `${GUEST_PREFIX}${sessionId}`;
}

/**
 * Why `nickname` cannot be used, in plain words, or undefined when it can.
 * `own` is the session's current nickname, which it may always keep.
 */
export function nicknameProblem(nickname: string, own: string): string | undefined {
  const length = [...nickname].length;
  if (length === 0) return "Nickname is empty";
  if (length > MAX_NICKNAME_CHARACTERS) {
    return `Nickname is ${length} characters long; the limit is ${MAX_NICKNAME_CHARACTERS}`;
  }
  if (!ALLOWED.test(nickname) || INVISIBLE.test(nickname)) {
    return `Nickname "${nickname}" may only hold letters, digits, "_", "-" and "."`;
  }
  // Look-alikes too: "\u0261uest-1" (Latin small script g) would pass for guest-1.
  const key = nicknameKey(nickname);
  if (key.startsWith(GUEST_KEY) && key !== nicknameKey(own)) {
    return `Nicknames starting with "${GUEST_PREFIX}" are reserved for guests`;
  }
  return undefined;
}

/**
 * The form under which nicknames are compared: two nicknames that look alike are the
 * same person. "Alice" and "alice" are (case folding), and so are the composed and
 * decomposed spellings of "é" and fullwidth "ａｌｉｃｅ" (NFKC). Beyond that, the
 * UTS #39 skeleton maps each look-alike to one prototype: Latin "ɑ", Cyrillic "а" and
 * Greek "α" all become "a", "rn" and "m" meet, and so do "l" and "1". Case is folded
 * first, so a capital "I" is compared as "i", not as "l": one key cannot be both. The
 * key is only compared, never shown: the nickname is displayed as typed.
 */
export function nicknameKey(nickname: string): string {
  let key = fold(nickname.normalize("NFKC"));
  // A prototype may fold to a character that has a prototype of its own ("M" -> "m" ->
  // "rn"); a few rounds settle every character of confusables.txt.
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = fold(skeleton(key));
    if (next === key) break;
    key = next;
  }
  return key;
}

const MAX_ROUNDS = 4;

// A dot above on "i" or "j" (Soft_Dotted) replaces the dot the letter has anyway: "i\u0307"
// is drawn as "i". confusables.txt maps single characters only, so it cannot say so.
const DOT_ABOVE_SOFT_DOTTED = /(\p{Soft_Dotted})\u0307/gu;

/** Upper then lower case folds more than lower case alone: "ß" and "SS", "ς" and "σ". */
function fold(text: string): string {
  return text.toUpperCase().toLowerCase();
}

/**
 * UTS #39 skeleton: decompose, replace each character by its prototype, decompose
 * again. NFKD rather than NFD, since the key folds compatibility forms anyway.
 */
function skeleton(text: string): string {
  let mapped = "";
  for (const char of text.normalize("NFKD")) mapped += CONFUSABLE_PROTOTYPES.get(char) ?? char;
  return mapped.normalize("NFKD").replace(DOT_ABOVE_SOFT_DOTTED, "$1");
}

/** Every nickname whose key starts with this looks like a guest name. */
const GUEST_KEY = nicknameKey(GUEST_PREFIX);
