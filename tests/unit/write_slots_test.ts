import assert from "node:assert/strict";
import { type SlotHolder, WriteSlots } from "../../lib/net/write_slots.ts";
import { deadline } from "../support/deadline.ts";

/** Holders that note, by index, when they are granted a slot. */
function holders(count: number, granted: number[]): SlotHolder[] {
  return Array.from({ length: count }, (_, index) => ({ slotGranted: () => granted.push(index) }));
}

Deno.test("WriteSlots - grants at once while slots are free, then in the order asked", () => {
  const granted: number[] = [];
  const slots = new WriteSlots(2);
  const all = holders(5, granted);
  for (const holder of all) slots.request(holder);
  assert.deepEqual(granted, [0, 1], "two slots, two grants");
  slots.release(all[1]);
  assert.deepEqual(granted, [0, 1, 2]);
  slots.release(all[0]);
  slots.release(all[2]);
  assert.deepEqual(granted, [0, 1, 2, 3, 4], "first come, first served");
  slots.release(all[3]);
  slots.release(all[4]);
  // Both slots are free again: the next request is granted at once.
  slots.request(all[0]);
  assert.deepEqual(granted, [0, 1, 2, 3, 4, 0]);
  slots.release(all[0]);
});

Deno.test("WriteSlots - never more grants outstanding than slots, whatever the order of calls", () => {
  const slots = new WriteSlots(3);
  const holding: SlotHolder[] = [];
  let most = 0;
  const all = Array.from({ length: 50 }, () => {
    const holder: SlotHolder = {
      slotGranted() {
        holding.push(holder);
        most = Math.max(most, holding.length);
      },
    };
    return holder;
  });
  for (let round = 0; round < 1000; round++) {
    if (round % 3 !== 2) slots.request(all[round % all.length]);
    else if (holding.length > 0) slots.release(holding.shift()!);
  }
  while (holding.length > 0) slots.release(holding.shift()!);
  assert.equal(most, 3);
});

Deno.test("WriteSlots - a slot given back at once passes on in turn; a second release is a no-op", () => {
  const order: string[] = [];
  const slots = new WriteSlots(1);
  const quick: SlotHolder = {
    slotGranted() {
      order.push("quick");
      slots.release(quick);
    },
  };
  const slow: SlotHolder = { slotGranted: () => order.push("slow") };
  slots.request(slow);
  slots.request(quick);
  slots.request({ slotGranted: () => order.push("last") });
  slots.release(slow);
  assert.deepEqual(order, ["slow", "quick", "last"]);
  slots.release(slow);
  assert.deepEqual(order, ["slow", "quick", "last"], "slow had no slot left to give");
});

Deno.test("WriteSlots - a write that never ends loses its slot after its lease, and the next goes", async () => {
  const slots = new WriteSlots(1);
  // Granted a slot and never gives it back: a client that stopped reading.
  slots.request({ slotGranted() {} });
  const granted = Promise.withResolvers<void>();
  const waiter: SlotHolder = { slotGranted: () => granted.resolve() };
  slots.request(waiter);
  await deadline(granted.promise, 5_000, "the waiter's grant");
  slots.release(waiter);
});

Deno.test("WriteSlots - thousands waiting at once are granted in the order they asked", () => {
  const granted: number[] = [];
  const slots = new WriteSlots(1);
  const all = holders(5000, granted);
  // Some granted before the crowd, so that the crowd's queue wraps around as it grows.
  for (const holder of all.slice(0, 700)) slots.request(holder);
  for (let i = 0; i < 600; i++) slots.release(all[i]);
  for (const holder of all.slice(700)) slots.request(holder);
  for (let i = 600; i < 5000; i++) slots.release(all[i]);
  assert.deepEqual(granted, all.map((_, index) => index));
});
