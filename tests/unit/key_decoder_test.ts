import assert from "node:assert/strict";
import { type Key, KeyDecoder } from "../../lib/cli/key_decoder.ts";

const encoder = new TextEncoder();

/** Decodes `chunks` in order with one decoder, as reads from the terminal would come. */
function decode(...chunks: (string | Uint8Array)[]): Key[] {
  const decoder = new KeyDecoder();
  return chunks.flatMap((chunk) =>
    decoder.decode(typeof chunk === "string" ? encoder.encode(chunk) : chunk)
  );
}

const text = (text: string): Key => ({ kind: "text", text });
const key = (kind: Exclude<Key, { kind: "text" }>["kind"]): Key => ({ kind });

Deno.test("key decoder - text comes in runs, however long, with tabs in them", () => {
  assert.deepEqual(decode("hello\tworld"), [text("hello\tworld")]);
  const paste = "x".repeat(5000);
  assert.deepEqual(decode(paste), [text(paste)]);
  assert.deepEqual(decode("ab\x01cd"), [text("ab"), key("home"), text("cd")]);
});

Deno.test("key decoder - CR, LF and CRLF each end one line, also split between reads", () => {
  assert.deepEqual(decode("a\rb\nc\r\nd"), [
    text("a"),
    key("enter"),
    text("b"),
    key("enter"),
    text("c"),
    key("enter"),
    text("d"),
  ]);
  assert.deepEqual(decode("a\r", "\nb"), [text("a"), key("enter"), text("b")]);
  assert.deepEqual(decode("\r\r\n\n"), [key("enter"), key("enter"), key("enter")]);
});

Deno.test("key decoder - a UTF-8 character cut between reads is whole", () => {
  const bytes = encoder.encode("日🙂");
  assert.deepEqual(decode(bytes.subarray(0, 2), bytes.subarray(2, 5), bytes.subarray(5)), [
    text("日"),
    text("🙂"),
  ]);
});

Deno.test("key decoder - cursor keys in their CSI, SS3 and modified forms", () => {
  assert.deepEqual(decode("\x1b[A\x1b[B\x1b[C\x1b[D"), [
    key("up"),
    key("down"),
    key("right"),
    key("left"),
  ]);
  assert.deepEqual(decode("\x1bOA\x1bOD\x1b[1;5C"), [key("up"), key("left"), key("right")]);
  assert.deepEqual(decode("\x1b[H\x1b[F\x1bOH\x1bOF\x1b[1~\x1b[4~\x1b[7~\x1b[8~"), [
    key("home"),
    key("end"),
    key("home"),
    key("end"),
    key("home"),
    key("end"),
    key("home"),
    key("end"),
  ]);
  assert.deepEqual(decode("\x1b[3~\x1b[3;5~"), [key("delete"), key("delete")]);
});

Deno.test("key decoder - an escape sequence cut between reads is whole", () => {
  assert.deepEqual(decode("a\x1b", "[", "1;5", "Db"), [text("a"), key("left"), text("b")]);
  assert.deepEqual(decode("\x1bO", "A"), [key("up")]);
});

Deno.test("key decoder - unknown sequences, Alt and a lone Escape are dropped, not the key after", () => {
  assert.deepEqual(decode("\x1b[15~\x1b[2J"), []); // F5; a sequence no key sends
  assert.deepEqual(decode("\x1bx"), [text("x")]);
  assert.deepEqual(decode("\x1b", "hi"), [text("hi")]);
  assert.deepEqual(decode("\x1b\x1b[A"), [key("up")]);
});

Deno.test("key decoder - Ctrl+letter editing keys, DEL and BS", () => {
  assert.deepEqual(decode("\x01\x02\x03\x04\x05\x06\x08\x0b\x0e\x10\x15\x17\x7f"), [
    key("home"),
    key("left"),
    key("interrupt"),
    key("endOfInput"),
    key("end"),
    key("right"),
    key("backspace"),
    key("deleteToEnd"),
    key("down"),
    key("up"),
    key("deleteToStart"),
    key("deleteWordBefore"),
    key("backspace"),
  ]);
  assert.deepEqual(decode("\x00\x07\x1f"), []);
});

Deno.test("key decoder - a bracketed paste is text but for its line ends, its end marker maybe cut", () => {
  assert.deepEqual(decode("\x1b[200~a\x04b\x1b[Ac\r\nd\x1b[201~\x03"), [
    text("a\x04b\x1b[Ac"),
    key("enter"),
    text("d"),
    key("interrupt"),
  ]);
  assert.deepEqual(decode("\x1b[200~abc\x1b[20", "1~\x7f"), [text("abc"), key("backspace")]);
  assert.deepEqual(decode("\x1b[200~a\x1b", "b\x1b[201~"), [text("a"), text("\x1bb")]);
});

Deno.test("key decoder - Ctrl+C interrupts a paste whose end marker never comes, and ends it", () => {
  assert.deepEqual(decode("\x1b[200~abc", "\x04de\x03", "\x04"), [
    text("abc"),
    text("\x04de"),
    key("interrupt"),
    key("endOfInput"),
  ]);
  assert.deepEqual(decode("\x1b[200~a\rb\x03\x1b[201~x"), [
    text("a"),
    key("enter"),
    text("b"),
    key("interrupt"),
    text("x"),
  ]);
});
