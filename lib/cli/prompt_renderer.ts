import { printable } from "../ui/printable.ts";
import { glyphs } from "./glyphs.ts";
import { textWidth } from "./text_width.ts";

/** The prompt, the line being typed and where in it the cursor is (an index into `line`). */
export interface PromptFrame {
  /** May hold colour codes (SGR), which take no room. */
  prompt: string;
  line: string;
  cursor: number;
}

/**
 * A line of our own for the user to copy whole (a command to run): printed as it is, left
 * for the terminal to wrap, so that its copy is one line again.
 */
export interface VerbatimLine {
  verbatim: string;
}

export interface TerminalSize {
  columns: number;
  rows: number;
}

/**
 * Keeps the prompt and the typed line at the bottom of the terminal, below
 * everything else printed, however many rows they wrap onto. It knows where it
 * left the cursor, so a redraw starts at the prompt's first row, clears to the
 * end of the screen, prints any new lines there and draws the prompt again below
 * them. Its output is the escape codes to write; it writes nothing itself.
 *
 * The lines printed above it are wrapped here rather than by the terminal, at
 * spaces where there are any, with a hanging indent: every row a line wraps onto
 * starts with HANGING_INDENT spaces, so only the first row of each line starts at
 * the left edge, and no message can pad itself to the width and forge what looks
 * like a line of its own. Verbatim lines, ours only, are left to the terminal. (The typed line is the user's own, and stays soft-wrapped, so that the
 * terminal rewraps it on a resize.)
 *
 * A line taller than the screen is shown by the rows around the cursor, as rows
 * scrolled off the top could not be cleared again. After a resize, it assumes the
 * terminal rewrapped what was drawn (as tmux, the Windows console and most
 * others do) and works out where that put the cursor.
 */
export class PromptRenderer {
  /** Rows from the first row drawn down to the cursor. */
  #cursorRow = 0;
  /** The text the last draw wrote (colour codes left out) and the cursor's index in it. */
  #drawn = { text: "", cursor: 0, lineEndAfter: false };
  #columns = 0;

  /**
   * Erases what was drawn, prints `above` (lines that stay, each wrapped to the
   * width with a hanging indent and ended with a line end; a line end inside one,
   * which only our own texts have (printable() shows those of others as ␊), starts
   * a line of its own), then draws `frame`, or nothing and leaves the
   * cursor at the start of a clean row.
   */
  render(
    above: readonly (string | VerbatimLine)[],
    frame: PromptFrame | undefined,
    size: TerminalSize,
  ): string {
    const columns = Math.max(2, size.columns);
    if (this.#columns !== 0 && columns !== this.#columns) {
      this.#cursorRow = rewrappedCursorRow(this.#drawn, columns);
    }
    this.#columns = columns;
    let out = up(this.#cursorRow) + "\r\x1b[J";
    // Autowrap is off while they print: where the terminal draws a character wider than it was
    // counted, the end of the row is cut off rather than wrapped to the left edge, where it
    // could pass for a line of its own.
    let autowrap = true;
    for (const line of above) {
      const verbatim = typeof line !== "string";
      if (autowrap !== verbatim) {
        out += verbatim ? AUTOWRAP_ON : AUTOWRAP_OFF;
        autowrap = verbatim;
      }
      out += verbatim
        ? line.verbatim + "\r\n"
        : line.split("\n").map((part) => hangingWrap(part, columns)).join("\r\n") + "\r\n";
    }
    if (!autowrap) out += AUTOWRAP_ON;
    this.#cursorRow = 0;
    this.#drawn = { text: "", cursor: 0, lineEndAfter: false };
    return frame === undefined ? out : out + this.#draw(frame, columns, Math.max(1, size.rows - 1));
  }

  #draw({ prompt, line, cursor }: PromptFrame, columns: number, maxRows: number): string {
    const plainPrompt = prompt.replace(SGR, "");
    const text = plainPrompt + printable(line);
    const layout = place(text, columns);
    // The cursor at the very end of a full row shows at the start of the next one.
    const lineEndAfter = layout.columns[text.length] >= columns;
    const totalRows = layout.rows[text.length] + (lineEndAfter ? 2 : 1);
    const cursorIndex = plainPrompt.length + cursor;
    const onNextRow = cursorIndex === text.length && lineEndAfter;
    const cursorRow = onNextRow ? totalRows - 1 : layout.rows[cursorIndex];
    const cursorColumn = onNextRow ? 0 : layout.columns[cursorIndex];

    const top = Math.max(0, cursorRow - maxRows + 1);
    const bottom = Math.min(totalRows, top + maxRows);
    let from = 0;
    while (from < text.length && layout.rows[from] < top) from++;
    let to = from;
    while (to < text.length && layout.rows[to] < bottom) to++;
    const drawn = text.slice(from, to);
    const lineEnd = bottom === totalRows && lineEndAfter;
    let out = from === 0 && to >= plainPrompt.length
      ? prompt + text.slice(plainPrompt.length, to)
      : drawn;
    if (lineEnd) out += "\r\n";
    // A write that fills a row leaves the cursor on that row until the next character comes.
    const lastRow = lineEnd ? totalRows - 1 : to > from ? layout.rows[to - 1] : top;
    out += up(lastRow - cursorRow) + "\r" + (cursorColumn > 0 ? `\x1b[${cursorColumn}C` : "");

    this.#cursorRow = cursorRow - top;
    this.#drawn = { text: drawn, cursor: cursorIndex - from, lineEndAfter: lineEnd };
    return out;
  }
}

// deno-lint-ignore no-control-regex -- colour codes are what we remove or keep apart
const SGR = /(\x1b\[[0-9;]*m)/g;

/** DECAWM: whether a character printed past the last column goes on at the next row's start. */
const AUTOWRAP_OFF = "\x1b[?7l";
const AUTOWRAP_ON = "\x1b[?7h";

/** Columns of spaces that start each row a printed line wraps onto. */
const HANGING_INDENT = 4;

/**
 * `line` (one line, colour codes allowed) cut into rows `columns` wide, glyph by
 * glyph as place() does, each row after the first ended by a line end and begun
 * by the hanging indent. A row ends at its last space, which the line end takes the
 * place of; only a word longer than a row is cut inside (where it stands). The indent leaves room for a
 * wide character on the narrowest screens.
 */
function hangingWrap(line: string, columns: number): string {
  const indent = " ".repeat(Math.min(HANGING_INDENT, columns - 2));
  const newRow = "\r\n" + indent;
  let out = "";
  let column = 0;
  /** The last space of the row, where it may break: its index in `out`, the column after it. */
  let space: { at: number; column: number } | undefined;
  let wrapped = false;
  // Split on a capturing pattern: the odd parts are the colour codes, which take no room.
  for (const [i, part] of line.split(SGR).entries()) {
    if (i % 2 === 1) {
      out += part;
      continue;
    }
    for (const { index, length, width } of glyphs(part)) {
      const glyph = part.slice(index, index + length);
      if (width > 0 && column + width > columns) {
        if (glyph === " ") {
          // The space that overflows is the break itself.
          out += newRow;
          column = indent.length;
          space = undefined;
          wrapped = true;
          continue;
        }
        // The word moves down whole, to after the indent, if it fits there whole; a longer
        // one is cut where it stands.
        const end = part.indexOf(" ", index);
        const rest = textWidth(part.slice(index, end < 0 ? undefined : end));
        if (space !== undefined && indent.length + column - space.column + rest <= columns) {
          out = out.slice(0, space.at) + newRow + out.slice(space.at + 1);
          column = indent.length + column - space.column;
          space = undefined;
        }
        if (column + width > columns) {
          out += newRow;
          column = indent.length;
        }
        // A space on a row above is no place to break this one.
        space = undefined;
        wrapped = true;
      }
      // Never at the indent: a row after the first keeps it.
      if (glyph === " " && (column > indent.length || !wrapped)) {
        space = { at: out.length, column: column + 1 };
      }
      out += glyph;
      column += width;
    }
  }
  return out;
}

function up(rows: number): string {
  return rows > 0 ? `\x1b[${rows}A` : "";
}

/**
 * The row and column of each UTF-16 index of `text` written from the start of
 * a row `columns` wide, glyph by glyph (see glyphs.ts), and at `text.length` where the next character would go
 * (its column may equal `columns`: the terminal wraps only when a character
 * comes). A wide character that does not fit in a row's last column starts the
 * next row, as terminals do.
 */
function place(text: string, columns: number): { rows: Int32Array; columns: Int32Array } {
  const rows = new Int32Array(text.length + 1);
  const cols = new Int32Array(text.length + 1);
  let row = 0;
  let column = 0;
  for (const { index, length, width } of glyphs(text)) {
    if (width > 0 && column + width > columns) {
      row++;
      column = 0;
    }
    rows.fill(row, index, index + length);
    cols.fill(column, index, index + length);
    column += width;
  }
  rows[text.length] = row;
  cols[text.length] = column;
  return { rows, columns: cols };
}

/** Where the cursor is once the terminal has rewrapped the drawn text to `columns`. */
function rewrappedCursorRow(
  drawn: { text: string; cursor: number; lineEndAfter: boolean },
  columns: number,
): number {
  const layout = place(drawn.text, columns);
  const row = layout.rows[drawn.cursor];
  return drawn.cursor === drawn.text.length && drawn.lineEndAfter ? row + 1 : row;
}
