import type { Key } from "./key_decoder.ts";

/** What a key did besides editing: a line was entered, or the user wants to leave. */
export type EditorOutcome = { kind: "submit"; line: string } | { kind: "quit" } | undefined;

/** Lines kept for Up and Down; the console forgets them at exit. */
const HISTORY_SIZE = 100;

export interface LineEditorOptions {
  /** Whether a submitted line is kept for Up and Down (not one with a password). @default all are */
  remember?: (line: string) => boolean;
}

/**
 * The typed line and its cursor, changed by keys: no terminal here, so every
 * rule can be tested on its own. The cursor is an index into `text`, and moves
 * and deletes a whole user-perceived character (an emoji with its modifiers, a
 * letter with its accents) at a time.
 */
export class LineEditor {
  readonly #remember: (line: string) => boolean;
  #text = "";
  #cursor = 0;
  readonly #history: string[] = [];
  /** Where Up and Down are in the history; its length means the line being typed. */
  #recalled = 0;
  /** The line being typed, kept while Up shows older ones. */
  #draft = "";

  constructor(options: LineEditorOptions = {}) {
    this.#remember = options.remember ?? (() => true);
  }

  get text(): string {
    return this.#text;
  }

  get cursor(): number {
    return this.#cursor;
  }

  /** Puts `text` in the line to edit, the cursor at its end. */
  replace(text: string): void {
    this.#set(text, text.length);
  }

  press(key: Key): EditorOutcome {
    const before = this.#text.slice(0, this.#cursor);
    const after = this.#text.slice(this.#cursor);
    switch (key.kind) {
      case "text":
        this.#set(before + key.text + after, this.#cursor + key.text.length);
        return;
      case "enter":
        return this.#submit();
      case "backspace": {
        const start = this.#cursor === 0 ? 0 : this.#segmentAt(this.#cursor - 1).index;
        this.#set(this.#text.slice(0, start) + after, start);
        return;
      }
      case "delete":
        this.#set(before + this.#text.slice(this.#nextBoundary()), this.#cursor);
        return;
      case "left":
        if (this.#cursor > 0) this.#cursor = this.#segmentAt(this.#cursor - 1).index;
        return;
      case "right":
        this.#cursor = this.#nextBoundary();
        return;
      case "home":
        this.#cursor = 0;
        return;
      case "end":
        this.#cursor = this.#text.length;
        return;
      case "up":
        this.#recall(this.#recalled - 1);
        return;
      case "down":
        this.#recall(this.#recalled + 1);
        return;
      case "deleteToStart":
        this.#set(after, 0);
        return;
      case "deleteToEnd":
        this.#set(before, this.#cursor);
        return;
      case "deleteWordBefore": {
        // As readline's unix-word-rubout: the spaces before the cursor, then the word.
        const start = before.search(/\S*\s*$/);
        this.#set(before.slice(0, start) + after, start);
        return;
      }
      case "interrupt":
        return { kind: "quit" };
      case "endOfInput":
        if (this.#text === "") return { kind: "quit" };
        return this.press({ kind: "delete" });
    }
  }

  #submit(): EditorOutcome {
    const line = this.#text;
    if (line.trim() !== "" && line !== this.#history.at(-1) && this.#remember(line)) {
      this.#history.push(line);
      if (this.#history.length > HISTORY_SIZE) this.#history.shift();
    }
    this.#recalled = this.#history.length;
    this.#draft = "";
    this.#set("", 0);
    return { kind: "submit", line };
  }

  #recall(index: number): void {
    if (index < 0 || index > this.#history.length) return;
    if (this.#recalled === this.#history.length) this.#draft = this.#text;
    this.#recalled = index;
    const text = index === this.#history.length ? this.#draft : this.#history[index];
    this.#set(text, text.length);
  }

  #set(text: string, cursor: number): void {
    this.#text = text;
    this.#cursor = cursor;
  }

  #nextBoundary(): number {
    if (this.#cursor === this.#text.length) return this.#cursor;
    const segment = this.#segmentAt(this.#cursor);
    return segment.index + segment.segment.length;
  }

  #segmentAt(index: number): Intl.SegmentData {
    return GRAPHEMES.segment(this.#text).containing(index)!;
  }
}

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: "grapheme" });
