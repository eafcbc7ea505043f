import assert from "node:assert/strict";
import { TokenBucket } from "../../lib/server/token_bucket.ts";

/** A clock the test moves by hand. */
function fakeClock(start = 1000) {
  const clock = { time: start, now: () => clock.time };
  return clock;
}

Deno.test("TokenBucket - allows the burst at once, then nothing until time passes", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 50, clock);
  for (let i = 0; i < 50; i++) assert.ok(bucket.take(), `event ${i}`);
  assert.equal(bucket.take(), false);
});

Deno.test("TokenBucket - refills at the rate, never above the burst", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 50, clock);
  for (let i = 0; i < 50; i++) bucket.take();
  clock.time += 100; // 2 tokens at 20/s
  assert.ok(bucket.take());
  assert.ok(bucket.take());
  assert.equal(bucket.take(), false);
  clock.time += 60_000;
  let taken = 0;
  while (bucket.take()) taken++;
  assert.equal(taken, 50);
});

Deno.test("TokenBucket - a steady sender under the rate is never refused", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 5, clock);
  for (let i = 0; i < 1000; i++) {
    clock.time += 60; // 16.7 per second
    assert.ok(bucket.take(), `event ${i}`);
  }
});

Deno.test("TokenBucket - msUntilToken says when the next take succeeds", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 2, clock);
  assert.equal(bucket.msUntilToken(), 0);
  bucket.take();
  bucket.take();
  assert.equal(bucket.msUntilToken(), 50);
  clock.time += 20;
  assert.equal(Math.round(bucket.msUntilToken()), 30);
  clock.time += 30;
  assert.equal(bucket.msUntilToken(), 0);
  assert.ok(bucket.take());
});

Deno.test("TokenBucket - empty drops the tokens, which then refill at the rate", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(10, 5, clock);
  bucket.empty();
  assert.equal(bucket.take(), false);
  assert.equal(bucket.msUntilToken(), 100);
  clock.time += 100;
  assert.ok(bucket.take());
  assert.equal(bucket.take(), false);
});

Deno.test("TokenBucket - credit lets a paced sender's held events through at once, up to one more burst", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 50, clock);
  // 16 per second for 5 s, all arriving when the server reads again: 80 events.
  clock.time += 5_000;
  bucket.credit(5_000);
  for (let i = 0; i < 80; i++) assert.ok(bucket.take(), `event ${i}`);
  // Then the rate goes on as before.
  for (let i = 0; i < 100; i++) {
    clock.time += 60;
    assert.ok(bucket.take(), `later event ${i}`);
  }
});

Deno.test("TokenBucket - without credit the same 80 events are refused past the burst", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 50, clock);
  clock.time += 5_000;
  let taken = 0;
  for (let i = 0; i < 80; i++) if (bucket.take()) taken++;
  assert.equal(taken, 50);
});

Deno.test("TokenBucket - credit counts time once, and never banks more than one extra burst", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 50, clock);
  for (let i = 0; i < 50; i++) bucket.take();
  clock.time += 1_000;
  bucket.credit(1_000);
  let taken = 0;
  while (bucket.take()) taken++;
  assert.equal(taken, 20, "a second held refills a second's worth, not two");
  // Held again and again for a minute, sending nothing: no more than two bursts wait.
  for (let i = 0; i < 600; i++) {
    clock.time += 100;
    bucket.credit(100);
  }
  taken = 0;
  while (bucket.take()) taken++;
  assert.ok(taken >= 50 && taken <= 100, `${taken} taken at once`);
});
