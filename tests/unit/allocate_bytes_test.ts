import assert from "node:assert/strict";
import { allocateBytes } from "../../lib/protocol/allocate_bytes.ts";

Deno.test("allocateBytes - arrays are zeroed, of the length asked, and never overlap", () => {
  // Enough to fill several slabs, in sizes that do not divide a slab evenly.
  const arrays = Array.from({ length: 2000 }, (_, i) => allocateBytes(1 + (i * 37) % 300));
  arrays.forEach((bytes, i) => {
    assert.equal(bytes.length, 1 + (i * 37) % 300);
    assert.ok(bytes.every((byte) => byte === 0), `array ${i} is not zeroed`);
    bytes.fill(i % 251 + 1);
  });
  // Had two arrays shared a byte, the later fill would show in the earlier one.
  arrays.forEach((bytes, i) => {
    assert.ok(bytes.every((byte) => byte === i % 251 + 1), `array ${i} was overwritten`);
  });
});

Deno.test("allocateBytes - large arrays get memory of their own", () => {
  const bytes = allocateBytes(64 * 1024);
  assert.equal(bytes.length, 64 * 1024);
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, 64 * 1024);
});
