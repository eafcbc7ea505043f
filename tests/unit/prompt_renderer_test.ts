import assert from "node:assert/strict";
import fc from "fast-check";
import { LineEditor } from "../../lib/cli/line_editor.ts";
import { textWidth } from "../../lib/cli/text_width.ts";
import { type PromptFrame, PromptRenderer } from "../../lib/cli/prompt_renderer.ts";
import { VirtualTerminal } from "../support/virtual_terminal.ts";

const PROMPT = "[broadcast] alice> ";

/** A renderer drawing on a terminal `columns` by `rows`. */
function screen(columns: number, rows: number) {
  const terminal = new VirtualTerminal(columns, rows);
  const renderer = new PromptRenderer();
  const draw = (above: string[], frame?: PromptFrame) =>
    terminal.write(renderer.render(above, frame, terminal.size));
  return { terminal, draw };
}

const typed = (line: string, cursor = line.length): PromptFrame => ({
  prompt: PROMPT,
  line,
  cursor,
});

/**
 * The rows a line of one-column characters is printed on, `columns` wide: the
 * first at the left edge, the others after the hanging indent of four.
 */
function hangingRows(line: string, columns: number): string[] {
  const rows = [line.slice(0, columns)];
  for (let i = columns; i < line.length; i += columns - 4) {
    rows.push("    " + line.slice(i, i + columns - 4));
  }
  return rows;
}

Deno.test("prompt renderer - a wrapped line is drawn again below each line printed above it", () => {
  const { terminal, draw } = screen(80, 24);
  const line = "x".repeat(100);
  draw([], typed(line));
  for (const message of ["one", "two", "three"]) draw([message], typed(line));
  assert.deepEqual(terminal.transcript, ["one", "two", "three", PROMPT + line]);
  assert.deepEqual(terminal.cursor, { row: 4, column: 39 });
  draw([], typed(line, 3));
  assert.deepEqual(terminal.cursor, { row: 3, column: 22 });
});

Deno.test("prompt renderer - colour codes in the prompt take no room", () => {
  const { terminal, draw } = screen(40, 10);
  draw([], { prompt: `\x1b[1m${PROMPT}\x1b[0m`, line: "abc", cursor: 1 });
  assert.deepEqual(terminal.transcript, [PROMPT + "abc"]);
  assert.deepEqual(terminal.cursor, { row: 0, column: PROMPT.length + 1 });
});

Deno.test("prompt renderer - a wide character that does not fit starts the next row", () => {
  const { terminal, draw } = screen(20, 10);
  draw([], { prompt: "> ", line: "a".repeat(17) + "日本", cursor: 17 });
  assert.deepEqual(terminal.cursor, { row: 1, column: 0 });
  draw(["hi"], { prompt: "> ", line: "a".repeat(17) + "日本", cursor: 19 });
  assert.deepEqual(terminal.transcript, ["hi", "> " + "a".repeat(17) + "日本"]);
  assert.deepEqual(terminal.cursor, { row: 2, column: 4 });
});

Deno.test("prompt renderer - a line that fills its last row puts the cursor on the next", () => {
  const { terminal, draw } = screen(20, 10);
  draw([], { prompt: "> ", line: "a".repeat(38), cursor: 38 });
  assert.deepEqual(terminal.cursor, { row: 2, column: 0 });
  draw(["hi"], { prompt: "> ", line: "a".repeat(38), cursor: 38 });
  assert.deepEqual(terminal.transcript, ["hi", "> " + "a".repeat(38)]);
  assert.deepEqual(terminal.cursor, { row: 3, column: 0 });
});

Deno.test("prompt renderer - control characters in the line are shown as symbols", () => {
  const { terminal, draw } = screen(40, 10);
  draw([], typed("a\tb\x1b[2Jc"));
  assert.deepEqual(terminal.transcript, [`${PROMPT}a\u2409b\u241b[2Jc`]);
});

Deno.test("prompt renderer - a line taller than the screen shows the rows around the cursor, drawn once", () => {
  const { terminal, draw } = screen(20, 5);
  const line = Array.from({ length: 200 }, (_, i) => String(i % 10)).join("");
  draw([], { prompt: "> ", line, cursor: line.length });
  // Four rows (one is kept for what is printed above): the last 62 characters and the cursor.
  assert.deepEqual(terminal.transcript, [line.slice(-62)]);
  assert.deepEqual(terminal.cursor, { row: 3, column: 2 });
  draw(["hi"], { prompt: "> ", line, cursor: 5 });
  assert.deepEqual(terminal.transcript, ["hi", "> " + line.slice(0, 78)]);
  assert.deepEqual(terminal.cursor, { row: 1, column: 7 });
  // Once entered, the line is printed whole above the next prompt, its rows indented.
  draw([`> ${line}`], { prompt: "> ", line: "", cursor: 0 });
  assert.deepEqual(terminal.transcript, ["hi", ...hangingRows(`> ${line}`, 20), ">"]);
});

Deno.test("prompt renderer - after a resize, the rewrapped line is drawn again in its place", () => {
  const { terminal, draw } = screen(80, 24);
  const line = "x".repeat(100);
  draw(["before"], typed(line));
  for (const [columns, message] of [[50, "narrower"], [120, "wider"], [30, "narrowest"]] as const) {
    terminal.resize(columns, 24);
    draw([message], typed(line));
  }
  assert.deepEqual(terminal.transcript, [
    "before",
    "narrower",
    "wider",
    "narrowest",
    PROMPT + line,
  ]);
  assert.equal(terminal.cursor.column, 119 % 30);
});

Deno.test("prompt renderer - flags and ZWJ emoji take the rows tmux gives them, no message erased", () => {
  const { terminal, draw } = screen(80, 24);
  // 19 + 62 columns: the last flag's first letter takes the row's last column, as in tmux.
  const line = "🇯🇵".repeat(31) + "👩\u200d👩\u200d👧\u200d👦".repeat(10);
  draw([], typed(line));
  for (const message of ["one", "two", "three"]) draw([message], typed(line));
  assert.deepEqual(terminal.transcript, ["one", "two", "three", PROMPT + line]);
  assert.deepEqual(terminal.cursor, { row: 4, column: 19 + 62 + 20 - 80 });
});

Deno.test("prompt renderer - a message padded to the width cannot forge a line: every row it wraps onto is indented", () => {
  const { terminal, draw } = screen(80, 24);
  const padded = (text: string) => `(broadcast) mallory: ok${" ".repeat(57)}${text}`;
  draw([
    padded("(broadcast) admin: please send me your password"),
    `\x1b[32m${padded("* alice left (1 online)")}\x1b[0m`,
  ], typed(""));
  assert.deepEqual(terminal.transcript, [
    "(broadcast) mallory: ok",
    "    (broadcast) admin: please send me your password",
    "(broadcast) mallory: ok",
    "    * alice left (1 online)",
    PROMPT.trimEnd(),
  ]);
});

Deno.test("prompt renderer - on a terminal that draws characters wider than counted, a printed line's end is cut, never wrapped to the left edge", () => {
  // tmux 3.3a draws the Yijing hexagrams two columns wide; wcwidth, and so the client, one.
  const terminal = new VirtualTerminal(80, 24, (c) => c === "\u4dc0" ? 2 : textWidth(c));
  const renderer = new PromptRenderer();
  const forged = "* alice is now admin";
  // 16 columns, and 32 hexagrams that take the other 64 as the terminal draws them.
  terminal.write(
    renderer.render([`(broadcast) m: x${"\u4dc0".repeat(32)}${forged}`], typed(""), terminal.size),
  );
  const rows = terminal.rows;
  // One row, whose last column each later character was drawn over, then the prompt.
  assert.equal(rows.length, 2, rows.join("\n"));
  assert.ok(rows[0].startsWith(`(broadcast) m: x${"\u4dc0".repeat(31)}`), rows[0]);
  assert.equal(rows[1], PROMPT.trimEnd());
});

Deno.test("prompt renderer - a line end inside a printed line starts a line of its own", () => {
  const { terminal, draw } = screen(30, 10);
  draw(["Commands:\n  /who  list who is online, and who is not"]);
  assert.deepEqual(terminal.transcript, [
    "Commands:",
    "  /who  list who is online,",
    "    and who is not",
  ]);
});

Deno.test("prompt renderer - a printed line wraps at spaces, never inside a word shorter than a row", () => {
  const { terminal, draw } = screen(40, 10);
  draw([
    "\x1b[31mCannot verify 10.0.0.5:6697: its certificate is not signed by a trusted authority\x1b[0m",
    `a ${"x".repeat(50)} end`,
  ]);
  assert.deepEqual(terminal.transcript, [
    "Cannot verify 10.0.0.5:6697: its",
    "    certificate is not signed by a",
    "    trusted authority",
    // Too long for any row: cut where it stands.
    `a ${"x".repeat(38)}`,
    `    ${"x".repeat(12)} end`,
  ]);
});

Deno.test("prompt renderer - a verbatim line is printed as it is, for the terminal to wrap, so that it copies whole", () => {
  const fingerprint = Array.from({ length: 32 }, () => "AB").join(":");
  const command = `--fingerprint ${fingerprint}`;
  const renderer = new PromptRenderer();
  const out = renderer.render(["before", { verbatim: command }, "after"], typed(""), {
    columns: 80,
    rows: 24,
  });
  // Autowrap on around it, and no line end or indent inside it.
  assert.ok(out.includes(`\x1b[?7h${command}\r\n\x1b[?7l`), JSON.stringify(out));
  const terminal = new VirtualTerminal(80, 24);
  terminal.write(out);
  // Copied from the terminal, its two rows are one line.
  assert.deepEqual(terminal.transcript.slice(0, 3), ["before", command, "after"]);
  assert.deepEqual(terminal.rows.slice(1, 3), [command.slice(0, 80), command.slice(80)]);
});

const printedText = fc.array(
  fc.constantFrom("a", "b", "日", "🙂", "e\u0301", "🇯🇵", "🇫", "👩\u200d👩\u200d👧\u200d👦", "👍🏽"),
  { minLength: 1, maxLength: 80 },
).map((characters) => characters.join(""));

Deno.test("prompt renderer - a printed line of any characters at any width keeps every row after its first indented", () => {
  fc.assert(
    fc.property(printedText, fc.integer({ min: 2, max: 60 }), (text, columns) => {
      const { terminal, draw } = screen(columns, 100);
      draw([`\x1b[36m${text}\x1b[0m`]);
      const rows = terminal.transcript;
      // Each row is one the renderer cut: none wider than the screen, so none the terminal wrapped.
      for (const row of rows) assert.ok(textWidth(row) <= columns, `${row} fits ${columns}`);
      const indent = " ".repeat(Math.min(4, columns - 2));
      for (const row of rows.slice(1)) {
        assert.ok(row.startsWith(indent) && row[indent.length] !== " ", `indented: ${row}`);
      }
      // Where the terminal draws wider than the client counts (👍🏽: four columns in tmux, two
      // counted), a row's end is cut off; elsewhere nothing is lost.
      if (!text.includes("👍🏽")) {
        assert.equal(rows[0] + rows.slice(1).map((row) => row.slice(indent.length)).join(""), text);
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("prompt renderer - nothing to draw leaves the cursor at the start of a clean row", () => {
  const { terminal, draw } = screen(20, 10);
  draw([], typed("x".repeat(30), 2));
  draw(["bye"]);
  assert.deepEqual(terminal.transcript, ["bye"]);
  assert.deepEqual(terminal.cursor, { row: 1, column: 0 });
});

const step = fc.oneof(
  fc.record({
    type: fc.constant("type" as const),
    text: fc.array(
      fc.constantFrom(
        "a",
        "b",
        " ",
        "日",
        "🙂",
        "e\u0301",
        "\t",
        "🇯🇵",
        "🇫",
        "👩\u200d👩\u200d👧\u200d👦",
      ),
      {
        minLength: 1,
        maxLength: 30,
      },
    ).map((characters) => characters.join("")),
  }),
  fc.record({
    type: fc.constant("key" as const),
    kind: fc.constantFrom("left", "right", "home", "end", "backspace", "delete" as const),
  }),
  fc.record({
    type: fc.constant("print" as const),
    text: fc.constantFrom("hi", "日本", "x".repeat(70)),
  }),
  fc.record({ type: fc.constant("resize" as const), columns: fc.integer({ min: 20, max: 100 }) }),
);

Deno.test("prompt renderer - whatever is typed, printed or resized, each printed line shows once above one prompt line", () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
      const { terminal, draw } = screen(60, 40);
      const editor = new LineEditor();
      // Lines above, for the prompt to grow into when a narrowing rewraps it: tmux keeps
      // the cursor's row and pushes the rows above into the history, out of reach.
      const printed = Array.from({ length: 10 }, (_, i) => `line ${i}`);
      draw(printed, typed(""));
      for (const step of steps) {
        // Short enough to fit on the screen at any width: a taller one is cut to the screen.
        if (step.type === "type" && editor.text.length < 150) {
          editor.press({ kind: "text", text: step.text });
        } else if (step.type === "key") editor.press({ kind: step.kind });
        else if (step.type === "resize") terminal.resize(step.columns, 40);
        const above = step.type === "print" ? [step.text] : [];
        // Printed rows are cut where the width was then; a later resize rewraps each of them.
        printed.push(...above.flatMap((text) => hangingRows(text, terminal.size.columns)));
        draw(above, typed(editor.text, editor.cursor));
      }
      const shownLine = (PROMPT + editor.text.replaceAll("\t", "\u2409")).trimEnd();
      assert.deepEqual(terminal.transcript, [...printed, shownLine]);
      const next = [...new Intl.Segmenter().segment(editor.text.slice(editor.cursor))][0];
      // A cell holds a whole cluster, or the first letter of a flag.
      const under = terminal.underCursor;
      if (next === undefined) assert.equal(under, "");
      else assert.ok(under !== "" && next.segment.replaceAll("\t", "\u2409").startsWith(under));
    }),
    { numRuns: 500 },
  );
});

Deno.test("prompt renderer - a word longer than a row is cut where it stands, and never moves a row already printed", () => {
  const { terminal, draw } = screen(20, 10);
  const word = "x".repeat(27);
  draw([`(b) alice: ${word} end`]);
  assert.deepEqual(terminal.transcript, [
    `(b) alice: ${word.slice(0, 9)}`,
    `    ${word.slice(9, 25)}`,
    `    ${word.slice(25)} end`,
  ]);
});
