import { cutText } from "../util/cut_text.ts";

/** The room every session is in from the start, and where a broadcast with no room goes. */
export const LOBBY = "#lobby";

/** The longest room name, "#" not counted. */
export const MAX_ROOM_NAME_CHARACTERS = 32;

/** Rooms one session may be in at once, the lobby included. */
export const MAX_ROOMS_PER_SESSION = 50;

// ASCII letters in either case, checked as given: lower-casing first would let look-alikes in
// ("\u212A", the Kelvin sign, lower-cases to "k").
const ROOM_NAME = /^#[A-Za-z0-9_-]{1,32}$/;

/**
 * The form a room is known by: lower case, and "" (what older clients send) is the lobby.
 * Check it with roomNameProblem first.
 */
export function roomKey(name: string): string {
  return name === "" ? LOBBY : name.toLowerCase();
}

/** Why `name` is no room name, in plain words, or undefined when it is one. "" is the lobby. */
export function roomNameProblem(name: string): string | undefined {
  if (name === "" || ROOM_NAME.test(name)) return undefined;
  // Shown to the user: a name of a megabyte is cut, and control characters are escaped.
  const shown = JSON.stringify(cutText(name, 40));
  return `Room name ${shown} is not valid: a room is "#" then 1-${MAX_ROOM_NAME_CHARACTERS} of a-z, 0-9, "-" and "_"`;
}
