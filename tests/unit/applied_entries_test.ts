import assert from "node:assert/strict";
import { AppliedEntries } from "../../lib/server/redis/applied_entries.ts";

Deno.test("AppliedEntries - new entries are applied once; replays are skipped", () => {
  const applied = new AppliedEntries();
  assert.equal(applied.take("a", 1, 1), true);
  assert.equal(applied.take("a", 1, 2), true);
  assert.equal(applied.take("a", 1, 2), false);
  assert.equal(applied.take("a", 1, 1), false);
  assert.equal(applied.take("b", 2, 1), true, "each process counts on its own");
});

Deno.test("AppliedEntries - an entry that fills a gap is applied, once", () => {
  const applied = new AppliedEntries();
  applied.take("a", 1, 1);
  applied.take("a", 1, 3);
  assert.equal(applied.take("a", 1, 2), true, "sent again after its first write was refused");
  assert.equal(applied.take("a", 1, 2), false);
});

Deno.test("AppliedEntries - a long gap (presence skipped in an outage) is not remembered", () => {
  const applied = new AppliedEntries();
  applied.take("a", 1, 1);
  applied.take("a", 1, 5000);
  assert.equal(applied.take("a", 1, 2), false);
});

Deno.test("AppliedEntries - forgetServer starts that server's processes afresh", () => {
  const applied = new AppliedEntries();
  applied.take("a", 1, 7);
  applied.take("b", 2, 7);
  applied.forgetServer(1);
  assert.equal(applied.take("a", 1, 7), true);
  assert.equal(applied.take("b", 2, 7), false);
});
