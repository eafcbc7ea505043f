/**
 * Text from other people, made safe to print: control characters (which could
 * clear the screen, retitle the window or forge a line) become visible symbols,
 * and bidirectional overrides (which could reorder what is shown) are marked.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (character) => {
    const code = character.codePointAt(0)!;
    // C0 controls have look-alike symbols at U+2400; DEL has U+2421.
    if (code < 0x20) return String.fromCodePoint(0x2400 + code);
    if (code === 0x7f) return "\u2421";
    return "\ufffd";
  });
}

// C0 and C1 controls, DEL, line and paragraph separators, bidi embeddings, overrides and isolates.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
