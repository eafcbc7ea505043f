import assert from "node:assert/strict";
import { FailedLogins } from "../../lib/server/accounts/failed_logins.ts";

class FakeClock {
  ms = 1_000_000;
  now(): number {
    return this.ms;
  }
}

class LogRecorder {
  readonly lines: string[] = [];
  log(_level: string, _event: string, message: string): void {
    this.lines.push(message);
  }
}

function setUp(limits = {}) {
  const clock = new FakeClock();
  const log = new LogRecorder();
  return { clock, log, logins: new FailedLogins({ limitLoopback: true, ...limits }, log, clock) };
}

Deno.test("failed logins - five for an account lock it for 60 s, logged once, then 120 s", () => {
  const { clock, log, logins } = setUp();
  for (let i = 0; i < 4; i++) {
    logins.failed("alice", "alice", "192.0.2.1");
    clock.ms += 10_000;
  }
  assert.equal(logins.lock("alice", "192.0.2.9"), undefined);
  logins.failed("alice", "alice", "192.0.2.2");
  assert.deepEqual(logins.lock("alice", "192.0.2.1"), { by: "account", ms: 60_000 });
  assert.deepEqual(logins.lock("alice", "192.0.2.2"), { by: "account", ms: 60_000 });
  assert.equal(logins.lock("alice", "192.0.2.9"), undefined, "the owner, elsewhere, gets in");
  logins.failed("alice", "alice", "192.0.2.9");
  assert.deepEqual(logins.lock("alice", "192.0.2.9"), { by: "account", ms: 60_000 });
  assert.equal(logins.lock("bob", "192.0.2.1"), undefined, "other accounts are free");
  assert.deepEqual(log.lines, [
    "failed logins: 5 for alice from 192.0.2.1 and 192.0.2.2 in 40 s; locked for 60 s",
  ]);
  clock.ms += 60_000;
  assert.equal(logins.lock("alice", "192.0.2.1"), undefined);
  for (let i = 0; i < 5; i++) logins.failed("alice", "alice", "192.0.2.1");
  assert.deepEqual(logins.lock("alice", "192.0.2.1"), { by: "account", ms: 120_000 });
  assert.equal(log.lines.length, 2);
  assert.match(log.lines[1], /^failed logins: 10 for alice .* locked for 120 s$/);
});

Deno.test("failed logins - a burst is forgotten after 15 quiet minutes, and a success forgets the account's", () => {
  const { clock, logins } = setUp();
  for (let i = 0; i < 4; i++) logins.failed("alice", "alice", "192.0.2.1");
  clock.ms += 15 * 60_000;
  logins.failed("alice", "alice", "192.0.2.1");
  assert.equal(logins.lock("alice", "192.0.2.1"), undefined);
  for (let i = 0; i < 3; i++) logins.failed("alice", "alice", "192.0.2.1");
  logins.succeeded("alice");
  logins.failed("alice", "alice", "192.0.2.1");
  assert.equal(logins.lock("alice", "192.0.2.1"), undefined);
});

Deno.test("failed logins - twenty from one address lock it for every account; loopback only with limitLoopback", () => {
  const { log, logins } = setUp();
  for (let i = 0; i < 20; i++) logins.failed(`name${i}`, `name${i}`, "192.0.2.7");
  assert.deepEqual(logins.lock("anyone", "192.0.2.7"), { by: "address", ms: 60_000 });
  assert.equal(logins.lock("anyone", "192.0.2.8"), undefined);
  assert.deepEqual(log.lines, [
    "failed logins: 20 from 192.0.2.7 for name0, name1 and 18 more in 0 s; locked for 60 s",
  ]);

  const loopback = setUp({ limitLoopback: false }).logins;
  for (let i = 0; i < 30; i++) loopback.failed(`name${i}`, `name${i}`, "127.0.0.1");
  assert.equal(loopback.lock("anyone", "127.0.0.1"), undefined);
});

Deno.test("failed logins - a locked account takes one try from each new address, up to a hundred", () => {
  const { logins } = setUp();
  for (let i = 0; i < 5; i++) logins.failed("alice", "alice", "192.0.2.1");
  for (let i = 0; i < 99; i++) {
    const address = `198.51.100.${i}`;
    assert.equal(logins.lock("alice", address), undefined, `${address}'s first try`);
    logins.failed("alice", "alice", address);
    assert.equal(logins.lock("alice", address)?.by, "account", `${address} failed: locked`);
  }
  assert.equal(logins.lock("alice", "203.0.113.1")?.by, "account", "past a hundred: for all");
});
