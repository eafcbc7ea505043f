import { printable } from "./printable.ts";

/** How much of someone else's text an error line quotes. */
const MAX_LENGTH = 60;

/**
 * Text from a file or a flag, fit to quote in a one-line message: made printable (see
 * `printable`), and cut short with "…", since a 50 MB value would bury the line.
 */
export function excerpt(text: string): string {
  if (text.length <= MAX_LENGTH) return printable(text);
  // Not between the two halves of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text[MAX_LENGTH - 1]) ? MAX_LENGTH - 1 : MAX_LENGTH;
  return `${printable(text.slice(0, end))}…`;
}
