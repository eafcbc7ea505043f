import assert from "node:assert/strict";
import { printable } from "../../lib/ui/printable.ts";

Deno.test("printable - ordinary text, any script, passes unchanged", () => {
  for (const text of ["hello", "안녕하세요 🎉", "José <b>x</b>", "नमस्ते", "tab-less"]) {
    assert.equal(printable(text), text);
  }
});

Deno.test("printable - controls that could forge lines or drive the terminal become visible", () => {
  assert.equal(printable("a\nb"), "a\u240ab");
  assert.equal(printable("x\r(broadcast) admin: y"), "x\u240d(broadcast) admin: y");
  assert.equal(printable("\x1b]0;pwned\x07"), "\u241b]0;pwned\u2407");
  assert.equal(printable("\x1b[2J"), "\u241b[2J");
  assert.equal(printable("del\x7f c1\x9b"), "del\u2421 c1\ufffd");
  assert.equal(printable("line\u2028sep"), "line\ufffdsep");
});

Deno.test("printable - bidi overrides cannot reorder what is shown", () => {
  assert.equal(printable("abc\u202edcba"), "abc\ufffddcba");
  assert.equal(printable("\u2066x\u2069"), "\ufffdx\ufffd");
});
