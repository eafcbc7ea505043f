/**
 * `text` cut after `maxLength` UTF-16 units with "…", for quoting a value in a one-line
 * message: a 50 MB value would bury the line. Never between the two halves of a
 * surrogate pair.
 */
export function cutText(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const end = /[\ud800-\udbff]/.test(text[maxLength - 1]) ? maxLength - 1 : maxLength;
  return `${text.slice(0, end)}…`;
}
