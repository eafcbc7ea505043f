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

Deno.test("TokenBucket - a steady sender held up for a while, then heard at once, is not refused with credit", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 5, clock);
  // 16.7 per second, but 7 s of it (117 events) arrive together when the server reads again.
  clock.time += 7_000;
  bucket.credit(7_000);
  for (let i = 0; i < 117; i++) assert.ok(bucket.take(), `event ${i}`);
  // The credit is what the time held allowed, no more; then the rate goes on as before.
  let extra = 0;
  while (bucket.take()) extra++;
  assert.ok(extra <= 140 - 117 + 5, `${extra} more taken`);
  for (let i = 0; i < 100; i++) {
    clock.time += 60;
    assert.ok(bucket.take(), `later event ${i}`);
  }
});

Deno.test("TokenBucket - without credit the same burst is refused past the bucket", () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(20, 5, clock);
  clock.time += 7_000;
  let taken = 0;
  for (let i = 0; i < 117; i++) if (bucket.take()) taken++;
  assert.equal(taken, 5);
});
