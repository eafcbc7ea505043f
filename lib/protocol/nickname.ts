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
  if (
    nicknameKey(nickname).startsWith(GUEST_PREFIX) && nicknameKey(nickname) !== nicknameKey(own)
  ) {
    return `Nicknames starting with "${GUEST_PREFIX}" are reserved for guests`;
  }
  return undefined;
}

/**
 * The form under which nicknames are compared: "Alice" and "alice" are the same
 * person, and so are the composed and decomposed spellings of "é". NFKC also folds
 * look-alikes such as fullwidth "ａｌｉｃｅ", so they cannot impersonate "alice".
 */
export function nicknameKey(nickname: string): string {
  // Upper then lower case folds more than lower case alone: "ß" and "SS", "ς" and "σ".
  return nickname.normalize("NFKC").toUpperCase().toLowerCase();
}
