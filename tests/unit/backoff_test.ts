import assert from "node:assert/strict";
import fc from "fast-check";
import { backoffDelay, DEFAULT_BACKOFF } from "../../lib/client/backoff.ts";

const LOWEST = () => 0;
const HIGHEST = () => 1 - Number.EPSILON;

Deno.test("backoffDelay - doubles from initialMs and caps at maxMs", () => {
  const highest = [1, 2, 3, 4, 5, 6, 7, 20].map((attempt) =>
    backoffDelay(attempt, DEFAULT_BACKOFF, HIGHEST)
  );
  assert.deepEqual(highest, [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
  const lowest = [1, 2, 3, 4, 5, 6, 7, 20].map((attempt) =>
    backoffDelay(attempt, DEFAULT_BACKOFF, LOWEST)
  );
  assert.deepEqual(lowest, [250, 500, 1000, 2000, 4000, 4000, 4000, 4000]);
});

Deno.test("backoffDelay - uses the defaults when no options are given", () => {
  assert.equal(backoffDelay(1, undefined, LOWEST), 250);
  assert.equal(backoffDelay(10, undefined, HIGHEST), 8000);
});

Deno.test("backoffDelay - honours custom options", () => {
  const options = { initialMs: 100, maxMs: 1000 };
  assert.equal(backoffDelay(1, options, () => 0.5), 75);
  assert.equal(backoffDelay(4, options, HIGHEST), 800);
  assert.equal(backoffDelay(5, options, HIGHEST), 1000);
  assert.equal(backoffDelay(5, options, LOWEST), 500);
});

Deno.test("backoffDelay - a very high attempt number still gives the capped delay", () => {
  assert.equal(backoffDelay(5000, DEFAULT_BACKOFF, HIGHEST), 8000);
  assert.equal(backoffDelay(Number.MAX_SAFE_INTEGER, DEFAULT_BACKOFF, LOWEST), 4000);
});

Deno.test("backoffDelay - stays within 50-100% of the capped exponential ceiling", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, initialMs, maxMs, random) => {
        const ceiling = Math.min(maxMs, initialMs * 2 ** (attempt - 1));
        const delay = backoffDelay(attempt, { initialMs, maxMs }, () => random);
        assert.ok(Number.isInteger(delay), `${delay} is an integer`);
        assert.ok(delay >= Math.floor(ceiling / 2), `${delay} >= half of ${ceiling}`);
        assert.ok(delay <= ceiling, `${delay} <= ${ceiling}`);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("backoffDelay - never shrinks from one attempt to the next, for the same random", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, random) => {
        const now = backoffDelay(attempt, DEFAULT_BACKOFF, () => random);
        const next = backoffDelay(attempt + 1, DEFAULT_BACKOFF, () => random);
        assert.ok(next >= now, `${next} >= ${now}`);
      },
    ),
    { numRuns: 200 },
  );
});
