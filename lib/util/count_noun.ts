/** "1 session", "2 sessions": a count with its noun, in the singular for one. */
export function countNoun(count: number, noun: string): string {
  return `${count} ${count === 1 ? noun : `${noun}s`}`;
}
