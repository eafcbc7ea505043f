import assert from "node:assert/strict";
import { SeqTracker } from "./seq_tracker.ts";

function track(seqs: number[]): SeqTracker {
  const tracker = new SeqTracker();
  for (const seq of seqs) tracker.add(seq);
  return tracker;
}

Deno.test("soak - seq tracker: in order counts each once", () => {
  const t = track([1, 2, 3, 4]);
  assert.deepEqual([t.unique, t.duplicated, t.outOfOrder, t.highest], [4, 0, 0, 4]);
});

Deno.test("soak - seq tracker: a repeat is a duplicate, not a delivery", () => {
  const t = track([1, 2, 2, 3, 1]);
  assert.deepEqual([t.unique, t.duplicated, t.outOfOrder], [3, 2, 0]);
});

Deno.test("soak - seq tracker: a late one is out of order but delivered; a gap is lost", () => {
  const t = track([1, 3, 5, 2, 2]);
  // 4 never came: 4 unique of 5 sent; 2 came after 3 (out of order), then again (duplicate).
  assert.deepEqual([t.unique, t.duplicated, t.outOfOrder], [4, 1, 1]);
});
