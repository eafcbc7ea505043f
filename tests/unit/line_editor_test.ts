import assert from "node:assert/strict";
import type { Key } from "../../lib/cli/key_decoder.ts";
import { type EditorOutcome, LineEditor } from "../../lib/cli/line_editor.ts";

type Press = string | Exclude<Key, { kind: "text" }>["kind"];

/** Presses each key: a name from Key, or text in `[brackets]` typed as a run. */
function press(editor: LineEditor, ...keys: Press[]): EditorOutcome[] {
  return keys.map((key) =>
    editor.press(
      key.startsWith("[") ? { kind: "text", text: key.slice(1, -1) } : { kind: key } as Key,
    )
  );
}

/** The line with the cursor shown as `|`. */
function shown(editor: LineEditor): string {
  return `${editor.text.slice(0, editor.cursor)}|${editor.text.slice(editor.cursor)}`;
}

Deno.test("line editor - typing inserts at the cursor, Enter gives the line and starts a new one", () => {
  const editor = new LineEditor();
  press(editor, "[helo]", "left", "[l]");
  assert.equal(shown(editor), "hell|o");
  press(editor, "home", "[> ]", "end", "[!]");
  assert.equal(shown(editor), "> hello!|");
  assert.deepEqual(press(editor, "enter"), [{ kind: "submit", line: "> hello!" }]);
  assert.equal(shown(editor), "|");
  assert.deepEqual(press(editor, "enter"), [{ kind: "submit", line: "" }]);
});

Deno.test("line editor - moves and deletes whole characters: emoji with modifiers, accented letters", () => {
  const editor = new LineEditor();
  press(editor, "[a👍🏽e\u0301b👨\u200d👩\u200d👧]");
  press(editor, "left");
  assert.equal(shown(editor), "a👍🏽e\u0301b|👨\u200d👩\u200d👧");
  press(editor, "left", "left");
  assert.equal(shown(editor), "a👍🏽|e\u0301b👨\u200d👩\u200d👧");
  press(editor, "backspace");
  assert.equal(shown(editor), "a|e\u0301b👨\u200d👩\u200d👧");
  press(editor, "delete");
  assert.equal(shown(editor), "a|b👨\u200d👩\u200d👧");
  press(editor, "right", "right", "right");
  assert.equal(shown(editor), "ab👨\u200d👩\u200d👧|");
  press(editor, "home", "left", "backspace");
  assert.equal(shown(editor), "|ab👨\u200d👩\u200d👧");
});

Deno.test("line editor - Ctrl+U, Ctrl+K and Ctrl+W delete before, after and the word before", () => {
  const editor = new LineEditor();
  press(editor, "[one two  three]", "left", "left");
  press(editor, "deleteWordBefore");
  assert.equal(shown(editor), "one two  |ee");
  press(editor, "deleteWordBefore");
  assert.equal(shown(editor), "one |ee");
  press(editor, "deleteToEnd");
  assert.equal(shown(editor), "one |");
  press(editor, "left", "deleteToStart");
  assert.equal(shown(editor), "| ");
});

Deno.test("line editor - Ctrl+C quits; Ctrl+D quits on an empty line and deletes on another", () => {
  const editor = new LineEditor();
  press(editor, "[ab]", "home");
  assert.deepEqual(press(editor, "endOfInput"), [undefined]);
  assert.equal(shown(editor), "|b");
  assert.deepEqual(press(editor, "interrupt"), [{ kind: "quit" }]);
  press(editor, "deleteToEnd");
  assert.deepEqual(press(editor, "endOfInput"), [{ kind: "quit" }]);
});

Deno.test("line editor - Up and Down walk the lines entered, and come back to the one being typed", () => {
  const editor = new LineEditor();
  press(editor, "[first]", "enter", "[second]", "enter", "[   ]", "enter", "[second]", "enter");
  press(editor, "[draft]", "up");
  assert.equal(shown(editor), "second|");
  press(editor, "up");
  assert.equal(shown(editor), "first|");
  press(editor, "up"); // no older line
  assert.equal(shown(editor), "first|");
  press(editor, "down", "down");
  assert.equal(shown(editor), "draft|");
  press(editor, "down");
  assert.equal(shown(editor), "draft|");
  press(editor, "up", "[ again]", "enter");
  press(editor, "up");
  assert.equal(shown(editor), "second again|");
});

Deno.test("line editor - a line given back to edit replaces the line, the cursor at its end", () => {
  const editor = new LineEditor();
  editor.replace("too long");
  press(editor, "backspace");
  assert.equal(shown(editor), "too lon|");
});

Deno.test("LineEditor - a line `remember` refuses is sent but never comes back with Up", () => {
  const editor = new LineEditor({ remember: (line) => !line.includes("secret") });
  press(editor, "[hello]", "enter", "[/register secret123]", "enter");
  press(editor, "up");
  assert.equal(editor.text, "hello");
  press(editor, "up");
  assert.equal(editor.text, "hello");
});
