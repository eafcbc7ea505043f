/** A key press, or a run of typed or pasted text. */
export type Key =
  | { kind: "text"; text: string }
  | {
    kind:
      | "enter"
      | "backspace"
      | "delete"
      | "left"
      | "right"
      | "home"
      | "end"
      | "up"
      | "down"
      | "deleteToStart"
      | "deleteToEnd"
      | "deleteWordBefore"
      | "interrupt"
      | "endOfInput";
  };

type NamedKey = Exclude<Key, { kind: "text" }>["kind"];

/**
 * Turns what a terminal sends in raw mode into keys. Bytes may come in chunks of
 * any size: a UTF-8 character or an escape sequence cut by the end of a chunk is
 * finished by the next one. Text comes out in runs, not a character at a time, so
 * a paste costs one edit, not thousands. Inside a bracketed paste (ESC[200~ ...
 * ESC[201~) everything but line ends and Ctrl+C is text, control characters included.
 */
export class KeyDecoder {
  readonly #utf8 = new TextDecoder();
  /** The start of an escape sequence (or of the paste's end) that the next chunk completes. */
  #pending = "";
  #pasting = false;
  /** The last key was a CR: an LF right after it is the same line end (CRLF), not another. */
  #afterCr = false;

  decode(bytes: Uint8Array): Key[] {
    const input = this.#pending + this.#utf8.decode(bytes, { stream: true });
    this.#pending = "";
    const keys: Key[] = [];
    let i = 0;
    while (i < input.length) {
      if (this.#pasting) {
        i = this.#pasted(input, i, keys);
        continue;
      }
      PLAIN.lastIndex = i;
      const run = PLAIN.exec(input);
      if (run !== null) {
        this.#text(keys, run[0]);
        i += run[0].length;
      } else if (input[i] === "\x1b") {
        const length = escapeLength(input, i);
        if (length === undefined) {
          this.#pending = input.slice(i);
          break;
        }
        this.#escape(keys, input.slice(i, i + length));
        i += length;
      } else {
        const name = input[i] === "\r" || input[i] === "\n" ? "enter" : CONTROL_KEYS[input[i]];
        if (name !== undefined) this.#named(keys, name, input[i]);
        i++;
      }
    }
    return keys;
  }

  /** Reads pasted text from `start`; returns where to go on. */
  #pasted(input: string, start: number, keys: Key[]): number {
    let end = input.indexOf(PASTE_END, start);
    let next = end + PASTE_END.length;
    // Ctrl+C ends the paste and interrupts: a paste whose end marker never comes
    // (a terminal cut off, a stray ESC[200~) would otherwise take every key as text.
    const interrupt = input.indexOf("\x03", start);
    if (interrupt !== -1 && (end === -1 || interrupt < end)) {
      this.#pasting = false;
      this.#pastedText(input.slice(start, interrupt), keys);
      this.#named(keys, "interrupt", "\x03");
      return interrupt + 1;
    }
    if (end === -1) {
      // Keep back what may be the first bytes of the end marker.
      end = Math.max(start, input.length - partialSuffixLength(input, PASTE_END));
      this.#pending = input.slice(end);
      next = input.length;
    } else {
      this.#pasting = false;
    }
    this.#pastedText(input.slice(start, end), keys);
    return next;
  }

  #pastedText(text: string, keys: Key[]): void {
    // Split by a capturing pattern, line ends are the odd pieces.
    for (const [i, piece] of text.split(LINE_END).entries()) {
      if (i % 2 === 1) this.#named(keys, "enter", piece);
      else if (piece !== "") this.#text(keys, piece);
    }
  }

  #escape(keys: Key[], sequence: string): void {
    if (sequence === PASTE_START) {
      this.#pasting = true;
      return;
    }
    const name = sequence.endsWith("~")
      ? TILDE_KEYS[/\d*/.exec(sequence.slice(2))![0]]
      : LETTER_KEYS[sequence.at(-1)!];
    if (name !== undefined) this.#named(keys, name, "");
  }

  #named(keys: Key[], kind: NamedKey, char: string): void {
    const afterCr = this.#afterCr;
    this.#afterCr = char === "\r";
    if (!(char === "\n" && afterCr)) keys.push({ kind });
  }

  #text(keys: Key[], text: string): void {
    this.#afterCr = false;
    const last = keys.at(-1);
    if (last?.kind === "text") last.text += text;
    else keys.push({ kind: "text", text });
  }
}

/** Text typed outside a paste: everything but control characters, though a Tab is text. */
// deno-lint-ignore no-control-regex -- control characters are what separates the runs
const PLAIN = /[^\x00-\x08\x0a-\x1f\x7f]+/y;
const LINE_END = /(\r\n?|\n)/;
const PASTE_START = "\x1b[200~";
const PASTE_END = "\x1b[201~";
/** Longer than any sequence a terminal sends for a key; a CSI this long unfinished is dropped. */
const MAX_SEQUENCE = 32;

/**
 * The length of the escape sequence at `start`: CSI (ESC [ parameters final) or
 * SS3 (ESC O final). ESC before anything else (Alt+key, or a lone Escape) is one
 * character long, so the key after it still counts. Undefined when the input ends
 * before the sequence does.
 */
function escapeLength(input: string, start: number): number | undefined {
  const kind = input[start + 1];
  if (kind === undefined) return undefined;
  if (kind === "O") return start + 2 < input.length ? 3 : undefined;
  if (kind !== "[") return 1;
  for (let i = start + 2; i < input.length && i - start < MAX_SEQUENCE; i++) {
    const code = input.charCodeAt(i);
    if (code >= 0x40 && code <= 0x7e) return i - start + 1;
    // Not a parameter or intermediate byte: a broken sequence, dropped up to here.
    if (code < 0x20 || code > 0x3f) return i - start;
  }
  return input.length - start < MAX_SEQUENCE ? undefined : MAX_SEQUENCE;
}

/** How many characters at the end of `input` begin `marker`. */
function partialSuffixLength(input: string, marker: string): number {
  for (let length = Math.min(marker.length - 1, input.length); length > 0; length--) {
    if (input.endsWith(marker.slice(0, length))) return length;
  }
  return 0;
}

/** Final letters of CSI and SS3 sequences; modifiers (ESC[1;5C) move the same way. */
const LETTER_KEYS: Record<string, NamedKey> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
};

/** ESC[n~ keys, in the numberings of xterm and of the Linux console and rxvt. */
const TILDE_KEYS: Record<string, NamedKey> = {
  "1": "home",
  "7": "home",
  "3": "delete",
  "4": "end",
  "8": "end",
};

/** Ctrl+letter, bound as Emacs and readline bind them. */
const CONTROL_KEYS: Record<string, NamedKey> = {
  "\x01": "home", // Ctrl+A
  "\x02": "left", // Ctrl+B
  "\x03": "interrupt", // Ctrl+C
  "\x04": "endOfInput", // Ctrl+D
  "\x05": "end", // Ctrl+E
  "\x06": "right", // Ctrl+F
  "\x08": "backspace", // Ctrl+H
  "\x0b": "deleteToEnd", // Ctrl+K
  "\x0e": "down", // Ctrl+N
  "\x10": "up", // Ctrl+P
  "\x15": "deleteToStart", // Ctrl+U
  "\x17": "deleteWordBefore", // Ctrl+W
  "\x7f": "backspace",
};
