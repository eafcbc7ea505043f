import { printable } from "../ui/printable.ts";
import { cutText } from "../util/cut_text.ts";

/**
 * Text from a file, a flag or a typed line, fit to quote in a one-line message: made
 * printable (see `printable`), and cut after `maxLength` UTF-16 units with "…", since a
 * 50 MB value would bury the line.
 */
export function excerpt(text: string, maxLength = 60): string {
  return printable(cutText(text, maxLength));
}
