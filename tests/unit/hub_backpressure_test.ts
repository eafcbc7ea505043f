import assert from "node:assert/strict";
import type { BroadcastLog } from "../../lib/net/broadcast_log.ts";
import { Hub, type HubMember } from "../../lib/server/hub.ts";

/** A member that is written only as far as a test says. */
class LaggingMember implements HubMember {
  nickname: string;
  stalled = false;
  log!: BroadcastLog;
  position = 0;
  constructor(readonly id: bigint) {
    this.nickname = `guest-${id}`;
  }
  send(): void {}
  unfollow(): void {}
  follow(log: BroadcastLog): void {
    this.log = log;
    this.position = log.head;
  }
  deliver(): number {
    return this.position;
  }
  catchUp(): void {
    this.position = this.log.head;
  }
}

function broadcastBytes(hub: Hub, bytes: number): void {
  const content = "x".repeat(bytes);
  hub.broadcast({ body: { case: "error", value: { code: 0, message: content, fatal: false } } });
}

Deno.test("Hub backpressure - a reading member far behind holds reads back until it catches up", async () => {
  using hub = new Hub(undefined, Infinity, 10_000);
  const [slow, quick] = [new LaggingMember(1n), new LaggingMember(2n)];
  hub.join(slow);
  hub.join(quick);
  hub.flush();
  assert.equal(hub.readHold(), undefined);
  broadcastBytes(hub, 6_000);
  quick.catchUp();
  hub.flush();
  assert.equal(hub.readHold(), undefined, "6 KB behind: under the line");
  broadcastBytes(hub, 6_000);
  // Held as the broadcast is appended, before any pass: reads go on between passes.
  const held = hub.readHold();
  assert.ok(held !== undefined, "12 KB behind: reads are held");
  assert.equal(hub.fanoutStats().readHolds, 1);
  hub.flush();
  assert.ok(hub.readHold() === held, "still held while it lags");
  slow.catchUp();
  quick.catchUp();
  hub.flush();
  assert.equal(hub.readHold(), undefined);
  await held;
});

Deno.test("Hub backpressure - a stalled member does not hold reads back", () => {
  using hub = new Hub(undefined, Infinity, 10_000);
  const stuck = new LaggingMember(1n);
  hub.join(stuck);
  hub.flush();
  stuck.stalled = true;
  hub.flush();
  for (let i = 0; i < 5; i++) broadcastBytes(hub, 6_000);
  hub.flush();
  assert.equal(hub.readHold(), undefined);
  assert.equal(hub.fanoutStats().stalledMembers, 1);
});

Deno.test("Hub backpressure - reads are held once 4 MiB are owed in all, however it is spread", () => {
  using hub = new Hub(undefined, Infinity, Infinity);
  const members = Array.from({ length: 200 }, (_, i) => new LaggingMember(BigInt(i + 1)));
  for (const member of members) hub.join(member);
  for (const member of members) member.catchUp();
  hub.flush();
  // 200 members each 30 KB behind: 6 MB owed, while no one lags far.
  for (let i = 0; i < 5; i++) broadcastBytes(hub, 6_000);
  hub.flush();
  assert.ok(hub.readHold() !== undefined);
  assert.ok(hub.fanoutStats().owedBytes > 4 * 1024 * 1024);
  for (const member of members) member.catchUp();
  hub.flush();
  assert.equal(hub.readHold(), undefined);
  assert.equal(hub.fanoutStats().owedBytes, 0);
});

Deno.test("Hub backpressure - the log lets go of what every member has been written", () => {
  using hub = new Hub(undefined, Infinity, Infinity);
  const [a, b] = [new LaggingMember(1n), new LaggingMember(2n)];
  hub.join(a);
  hub.join(b);
  for (let i = 0; i < 100; i++) broadcastBytes(hub, 6_000);
  a.catchUp();
  hub.flush();
  assert.ok(hub.fanoutStats().logBytes >= 600_000, "b still needs all of it");
  b.catchUp();
  hub.flush();
  assert.ok(hub.fanoutStats().logBytes <= 256 * 1024, "one segment left, for what comes next");
});
