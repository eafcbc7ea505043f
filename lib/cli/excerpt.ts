import { printable } from "../ui/printable.ts";

/**
 * Text from a file, a flag or a typed line, fit to quote in a one-line message: made
 * printable (see `printable`), and cut after `maxLength` UTF-16 units with "…", since a
 * 50 MB value would bury the line.
 */
export function excerpt(text: string, maxLength = 60): string {
  if (text.length <= maxLength) return printable(text);
  // Not between the two halves of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text[maxLength - 1]) ? maxLength - 1 : maxLength;
  return `${printable(text.slice(0, end))}…`;
}
