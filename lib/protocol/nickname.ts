import { CONFUSABLE_PROTOTYPES } from "./confusable_prototypes.ts";

/** The longest nickname, in characters (code points). */
export const MAX_NICKNAME_CHARACTERS = 32;

/** Default nicknames are "guest-<session id>"; nobody else may take one. */
const GUEST_PREFIX = "guest-";

// Marks (\p{M}) are part of letters in many scripts (Devanagari vowel signs, say),
// but may not come first, and invisible characters may not appear at all.
const ALLOWED = /^[\p{L}\p{Nd}_.\-][\p{L}\p{M}\p{Nd}_.\-]*$/u;
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;

/**
 * Marks one character may carry, in a row. Enough for Vietnamese ("ệ" is "e" and two in
 * NFD, one character in NFC) and Indic scripts; more is Zalgo text, which spills over the
 * lines around it.
 */
export const MAX_MARKS_IN_A_ROW = 2;
const TOO_MANY_MARKS = new RegExp(`\\p{M}{${MAX_MARKS_IN_A_ROW + 1}}`, "u");

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
  if (TOO_MANY_MARKS.test(nickname)) {
    return `Nickname has more than ${MAX_MARKS_IN_A_ROW} accents or other marks on one letter`;
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
 * Greek "α" all become "a", "rn" and "m" meet, and so do "l" and "1". Nonspacing marks
 * (accents, dots, underlines: after NFKD) are left out, since a small one is easily missed
 * ("o\u0323wner", "owner\u0332"): "José" and "Jose" are one name. Spacing marks (most
 * Indic vowel signs) stay.
 *
 * A skeleton tells cases apart, and confusables.txt maps some letters in one case only
 * (Latin "ɑ", but Greek "Β" and Cherokee "Ꭺ"). So each character is taken with its other
 * case, and stands for the prototype either has in Latin letters, digits or "-_.", the
 * capital's first: "Β" and "β" are "b", "σ" and "Σ" are "o". A capital "I" looks like "l",
 * so "i" and "l" share a key too. The key is only compared, never shown: the nickname is
 * displayed as typed.
 */
export function nicknameKey(nickname: string): string {
  let key = withoutMarks(nickname);
  // A prototype may have one of its own ("m" -> "rn"); a few rounds settle them all.
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let next = "";
    for (const character of key) next += characterKey(character);
    next = withoutMarks(next);
    if (next === key) break;
    key = next;
  }
  return key;
}

const MAX_ROUNDS = 4;

/**
 * Nonspacing and enclosing marks: an accent, a ring around a letter. Spacing marks (Mc) stay:
 * they are vowels in Indic scripts, and names differ by them.
 */
const MARKS_LEFT_OUT = /[\p{Mn}\p{Me}]/gu;

/** `text` decomposed (NFKD), its nonspacing and enclosing marks left out. */
function withoutMarks(text: string): string {
  return text.normalize("NFKD").replace(MARKS_LEFT_OUT, "");
}

const PLAIN = /^[A-Za-z0-9_.\-]*$/;

/** What `character` and its other case stand for in a key. */
function characterKey(character: string): string {
  // Upper then lower case folds more than lower case alone: "ß" and "SS", "ς" and "σ".
  const upper = character.toUpperCase();
  const lower = upper.toLowerCase();
  for (const mapped of [prototypes(upper), prototypes(lower)]) {
    if (!PLAIN.test(mapped)) continue;
    // In lower case it may have a prototype of its own: "M" is "m", which is "rn".
    const again = prototypes(mapped.toLowerCase());
    return (PLAIN.test(again) ? again : mapped).toLowerCase();
  }
  return prototypes(lower).toUpperCase().toLowerCase();
}

/** UTS #39 skeleton's mapping: each character of `text` replaced by its prototype. */
function prototypes(text: string): string {
  let mapped = "";
  for (const character of text.normalize("NFKD")) {
    mapped += CONFUSABLE_PROTOTYPES.get(character) ?? SMALL_CAPITALS.get(character) ?? character;
  }
  return mapped;
}

/**
 * Latin small capitals, which confusables.txt leaves apart but which pass for capitals on
 * a page ("ᴀʟɪᴄᴇ"): each is its letter.
 */
const SMALL_CAPITALS: ReadonlyMap<string, string> = new Map(
  [..."ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘꞯʀꜱᴛᴜᴠᴡʏᴢ"].map((capital, i) => [capital, "ABCDEFGHIJKLMNOPQRSTUVWYZ"[i]]),
);

/** Every nickname whose key starts with this looks like a guest name. */
const GUEST_KEY = nicknameKey(GUEST_PREFIX);
