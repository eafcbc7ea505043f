import assert from "node:assert/strict";
import {
  REGISTRATION_WINDOW_MS,
  RegistrationLimit,
} from "../../lib/server/accounts/registration_limit.ts";

class FakeClock {
  ms = 1_000_000;
  now(): number {
    return this.ms;
  }
}

Deno.test("registration limit - three per requester per hour, then the wait until the oldest leaves the window", () => {
  const clock = new FakeClock();
  const limit = new RegistrationLimit(clock);
  for (let i = 0; i < 3; i++) {
    assert.equal(limit.waitMs("192.0.2.1"), 0);
    limit.registered("192.0.2.1");
    clock.ms += 60_000;
  }
  assert.equal(limit.waitMs("192.0.2.1"), REGISTRATION_WINDOW_MS - 180_000);
  assert.equal(limit.waitMs("192.0.2.2"), 0, "another requester is counted apart");
  clock.ms += REGISTRATION_WINDOW_MS - 180_000;
  assert.equal(limit.waitMs("192.0.2.1"), 0);
  limit.registered("192.0.2.1");
  assert.equal(limit.waitMs("192.0.2.1"), 60_000);
});
