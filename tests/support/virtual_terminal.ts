import { textWidth } from "../../lib/cli/text_width.ts";

interface Cell {
  /** Empty for the right half of a wide character. */
  text: string;
  width: number;
}

interface Row {
  cells: Cell[];
  /** The line goes on in the next row (the terminal wrapped it), rather than ending here. */
  wrapped: boolean;
}

/**
 * A terminal screen in memory, for unit tests of what a program draws: it
 * understands text (wide characters and ZWJ sequences included), CR, LF and the few escape codes
 * the prompt renderer writes (cursor up, cursor forward, clear to the end of the
 * screen, colours, autowrap on and off). It wraps as tmux does, keeps what scrolls off in history,
 * and on a resize rewraps every line and keeps the cursor on the same character
 * and screen row, as tmux does.
 */
export class VirtualTerminal {
  #columns: number;
  #height: number;
  readonly #rows: Row[] = [{ cells: [], wrapped: false }];
  /** The row shown at the top of the screen; those above are history. */
  #top = 0;
  #row = 0;
  #column = 0;
  /** A character filled the last column: the next one wraps. */
  #pendingWrap = false;
  /** DECAWM: off, a character past the last column is drawn over it instead of wrapping. */
  #autowrap = true;
  readonly #width: (character: string) => number;

  /**
   * `width` is how many columns this terminal draws a character in: by default as the
   * client counts it; another, for a terminal whose tables disagree with the client's.
   */
  constructor(columns: number, height: number, width: (character: string) => number = textWidth) {
    this.#columns = columns;
    this.#height = height;
    this.#width = width;
  }

  get size(): { columns: number; rows: number } {
    return { columns: this.#columns, rows: this.#height };
  }

  /** Where the cursor is on the screen, counted from 0 at the top left. */
  get cursor(): { row: number; column: number } {
    return { row: this.#row - this.#top, column: this.#column };
  }

  /** The character in the cell under the cursor, or "" for an empty one. */
  get underCursor(): string {
    return this.#rows[this.#row].cells[this.#column]?.text ?? "";
  }

  /** History and screen row by row, as drawn (wrapped rows apart), trailing spaces left out. */
  get rows(): string[] {
    return this.#rows.map((row) => row.cells.map((cell) => cell.text).join("").trimEnd());
  }

  /** History and screen, with wrapped rows joined back into their lines, trailing empty lines left out. */
  get transcript(): string[] {
    const lines: string[] = [];
    let line = "";
    for (const row of this.#rows) {
      line += row.cells.map((cell) => cell.text).join("");
      if (!row.wrapped) {
        lines.push(line.trimEnd());
        line = "";
      }
    }
    while (lines.at(-1) === "") lines.pop();
    return lines;
  }

  write(output: string): void {
    for (let i = 0; i < output.length;) {
      // deno-lint-ignore no-control-regex -- parsing the escape codes is the point
      const autowrap = /^\x1b\[\?7([hl])/.exec(output.slice(i, i + 5));
      if (autowrap !== null) {
        this.#autowrap = autowrap[1] === "h";
        i += autowrap[0].length;
        continue;
      }
      // deno-lint-ignore no-control-regex -- parsing the escape codes is the point
      const escape = /^\x1b\[([0-9;]*)([A-Za-z])/.exec(output.slice(i, i + 16));
      if (escape !== null) {
        this.#control(escape[2], Number(escape[1] || "0"));
        i += escape[0].length;
        continue;
      }
      const character = String.fromCodePoint(output.codePointAt(i)!);
      i += character.length;
      if (character === "\r") this.#carriageReturn();
      else if (character === "\n") this.#lineFeed();
      else if (character < " ") {
        throw new Error(`Cannot show control character ${JSON.stringify(character)}`);
      } else this.#print(character);
    }
  }

  resize(columns: number, height: number): void {
    const screenRow = Math.min(this.#row - this.#top, height - 1);
    const { lines, cursor } = this.#lines();
    this.#columns = columns;
    this.#height = height;
    this.#rows.length = 0;
    this.#top = 0;
    let cursorAt = { row: 0, column: 0, pendingWrap: false };
    for (const [index, line] of lines.entries()) {
      this.#rows.push({ cells: [], wrapped: false });
      this.#row = this.#rows.length - 1;
      this.#column = 0;
      this.#pendingWrap = false;
      for (const [k, character] of line.entries()) {
        if (index === cursor.line && k === cursor.index) cursorAt = this.#placeOf(character);
        this.#print(character);
      }
      if (index === cursor.line && cursor.index >= line.length) {
        cursorAt = cursor.spaces === 0
          ? { row: this.#row, column: this.#column, pendingWrap: this.#pendingWrap }
          : {
            row: this.#row,
            column: Math.min(columns - 1, this.#column + cursor.spaces),
            pendingWrap: false,
          };
      }
    }
    ({ row: this.#row, column: this.#column, pendingWrap: this.#pendingWrap } = cursorAt);
    this.#top = Math.max(0, this.#row - screenRow);
  }

  /** Every line as its characters, and where among them the cursor is. */
  #lines(): { lines: string[][]; cursor: { line: number; index: number; spaces: number } } {
    const lines: string[][] = [[]];
    const cursor = { line: 0, index: 0, spaces: 0 };
    for (const [index, row] of this.#rows.entries()) {
      const line = lines.at(-1)!;
      if (index === this.#row) {
        const before = this.#pendingWrap ? row.cells : row.cells.slice(0, this.#column);
        cursor.line = lines.length - 1;
        cursor.index = line.length + before.filter((cell) => cell.width > 0).length;
        cursor.spaces = this.#pendingWrap ? 0 : Math.max(0, this.#column - row.cells.length);
      }
      for (const cell of row.cells) if (cell.width > 0) line.push(cell.text);
      if (!row.wrapped) lines.push([]);
    }
    return { lines: lines.slice(0, -1), cursor };
  }

  /** Where `character` would go if it were printed now. */
  #placeOf(character: string): { row: number; column: number; pendingWrap: boolean } {
    const width = textWidth(character);
    return width > 0 && (this.#pendingWrap || this.#column + width > this.#columns)
      ? { row: this.#row + 1, column: 0, pendingWrap: false }
      : { row: this.#row, column: this.#column, pendingWrap: false };
  }

  #control(final: string, count: number): void {
    this.#pendingWrap = false;
    switch (final) {
      case "A":
        this.#row = Math.max(this.#top, this.#row - Math.max(1, count));
        return;
      case "C":
        this.#column = Math.min(this.#columns - 1, this.#column + Math.max(1, count));
        return;
      case "J": {
        const row = this.#rows[this.#row];
        row.cells.length = Math.min(row.cells.length, this.#column);
        row.wrapped = false;
        this.#rows.length = this.#row + 1;
        return;
      }
      case "m":
        return;
    }
    throw new Error(`Cannot interpret ESC[${count}${final}`);
  }

  #print(character: string): void {
    const width = this.#width(character);
    const row = this.#rows[this.#row];
    const previous = row.cells.findLast((cell, i) => i <= this.#column && cell.width > 0);
    // tmux draws a wide character after a ZWJ in the joiner's cell: one emoji (👩‍👧).
    if (width === 0 || (width === 2 && previous?.text.endsWith("\u200d"))) {
      if (previous !== undefined) previous.text += character;
      return;
    }
    if (!this.#autowrap && (this.#pendingWrap || this.#column + width > this.#columns)) {
      this.#column = this.#columns - width;
    } else if (this.#pendingWrap || this.#column + width > this.#columns) {
      row.wrapped = true;
      this.#lineFeed();
      this.#column = 0;
    }
    const cells = this.#rows[this.#row].cells;
    while (cells.length < this.#column) cells.push({ text: " ", width: 1 });
    cells[this.#column] = { text: character, width };
    if (width === 2) cells[this.#column + 1] = { text: "", width: 0 };
    this.#column += width;
    if (this.#column >= this.#columns) {
      this.#column = this.#columns - 1;
      this.#pendingWrap = true;
    }
  }

  #carriageReturn(): void {
    this.#column = 0;
    this.#pendingWrap = false;
  }

  #lineFeed(): void {
    this.#pendingWrap = false;
    if (this.#row === this.#top + this.#height - 1) this.#top++;
    this.#row++;
    if (this.#row === this.#rows.length) this.#rows.push({ cells: [], wrapped: false });
  }
}
