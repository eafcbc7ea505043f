import assert from "node:assert/strict";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import { ViewTakingMember } from "../../lib/bench/micro/view_taking_member.ts";
import { framedPayloads } from "../support/framed_payloads.ts";
import { Hub as BatchingHub } from "../../lib/server/hub.ts";
import { FakeMember, fields, joinMembers, presence, sameBytes } from "../support/fake_member.ts";
import { Hub } from "../support/immediate_hub.ts";

/** A hub with members 1..n joined as guest-1..guest-n, and their join events cleared. */
function hubWith(n: number): { hub: Hub; members: FakeMember[] } {
  const hub = new Hub();
  return { hub, members: joinMembers(hub, n) };
}

Deno.test("Hub - join tells the others, not the newcomer, with the online count", () => {
  const hub = new Hub();
  const alice = new FakeMember(1n);
  const bob = new FakeMember(2n);
  const carol = new FakeMember(3n);
  hub.join(alice);
  assert.equal(hub.online, 1);
  assert.deepEqual(alice.sent, []);
  hub.join(bob);
  assert.deepEqual(bob.sent, []);
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.JOINED, 2n, "guest-2", 2),
  ]);
  hub.join(carol);
  assert.equal(hub.online, 3);
  assert.deepEqual(carol.sent, []);
  for (const member of [alice, bob]) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.JOINED, 3n, "guest-3", 3),
    ]);
  }
});

Deno.test("Hub - leave tells the rest, with the online count", () => {
  const { hub, members: [alice, bob, carol] } = hubWith(3);
  hub.leave(bob);
  assert.equal(hub.online, 2);
  assert.deepEqual(bob.sent, []);
  for (const member of [alice, carol]) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.LEFT, 2n, "guest-2", 2),
    ]);
  }
  // A member that left gets nothing more.
  hub.broadcast({ body: { case: "pong", value: { nonce: 1n } } });
  hub.flush();
  assert.deepEqual(bob.sent, []);
  assert.equal(alice.sent.length, 1);
});

Deno.test("Hub - leave of a non-member is a no-op", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  hub.leave(new FakeMember(99n));
  assert.equal(hub.online, 2);
  assert.deepEqual(alice.sent, []);
  assert.deepEqual(bob.sent, []);
  // Leaving twice: the second time is a no-op too.
  hub.leave(bob);
  assert.equal(alice.sent.length, 1);
  hub.leave(bob);
  assert.equal(alice.sent.length, 1);
  assert.equal(hub.online, 1);
});

Deno.test("Hub - leave reports the member's current nickname and frees it", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  assert.equal(hub.rename(bob, "Bob"), "renamed");
  alice.sent.length = 0;
  hub.leave(bob);
  assert.deepEqual(alice.takePresence().map(fields), [presence(PresenceKind.LEFT, 2n, "Bob", 1)]);
  assert.equal(hub.rename(alice, "bob"), "renamed");
});

Deno.test("Hub - rename tells everyone, the renamed member included", () => {
  const { hub, members } = hubWith(3);
  assert.equal(hub.rename(members[1], "bob"), "renamed");
  for (const member of members) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.RENAMED, 2n, "bob", 3, "guest-2"),
    ]);
  }
  assert.deepEqual(hub.who()[1], { sessionId: 2n, nickname: "bob" });
});

Deno.test("Hub - rename is case-insensitively unique and answers taken when taken", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  assert.equal(hub.rename(alice, "Alice"), "renamed");
  alice.sent.length = 0;
  bob.sent.length = 0;
  for (const taken of ["Alice", "alice", "ALICE", "aLiCe"]) {
    assert.equal(hub.rename(bob, taken), "taken", taken);
  }
  // Nothing changed, nobody was told.
  assert.deepEqual(alice.sent, []);
  assert.deepEqual(bob.sent, []);
  assert.deepEqual(hub.who().map((user) => user.nickname), ["Alice", "guest-2"]);
  // A member's guest name is taken too.
  assert.equal(hub.rename(alice, "GUEST-2"), "taken");
});

Deno.test("Hub - composed and decomposed spellings are the same nickname", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  assert.equal(hub.rename(alice, "Jos\u00e9"), "renamed");
  assert.equal(hub.rename(bob, "jose\u0301"), "taken");
});

Deno.test("Hub - renaming to one's own name in another case works", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  assert.equal(hub.rename(alice, "alice"), "renamed");
  alice.sent.length = 0;
  bob.sent.length = 0;
  assert.equal(hub.rename(alice, "ALICE"), "renamed");
  for (const member of [alice, bob]) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.RENAMED, 1n, "ALICE", 2, "alice"),
    ]);
  }
  // The name is still held: another member cannot take it in any case.
  assert.equal(hub.rename(bob, "Alice"), "taken");
});

Deno.test("Hub - renaming to the exact current name confirms to that member only", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  assert.equal(hub.rename(alice, "guest-1"), "renamed");
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.RENAMED, 1n, "guest-1", 2, "guest-1"),
  ]);
  assert.deepEqual(bob.sent, []);
});

Deno.test("Hub - a renamed member's previous nickname becomes free", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  assert.equal(hub.rename(alice, "alice"), "renamed");
  assert.equal(hub.rename(alice, "alicia"), "renamed");
  assert.equal(hub.rename(bob, "Alice"), "renamed");
});

Deno.test("Hub - rename of a non-member answers taken", () => {
  const { hub, members: [alice] } = hubWith(1);
  assert.equal(hub.rename(new FakeMember(5n), "zed"), "taken");
  assert.deepEqual(alice.sent, []);
  assert.equal(hub.rename(alice, "zed"), "renamed");
});

Deno.test("Hub - broadcast delivers the same bytes, framed once in the log, to every member", () => {
  const { hub, members } = hubWith(4);
  hub.broadcast({
    body: {
      case: "chat",
      value: { action: Action.BROADCAST, content: "hello all", fromSessionId: 1n, clientSeq: 5n },
    },
  });
  hub.flush();
  const first = members[0].sent[0];
  for (const member of members) {
    assert.equal(member.sent.length, 1);
    assert.ok(sameBytes(member.sent[0], first), "the payload is encoded once and shared");
  }
  const message = decodeServerMessage(first);
  assert.equal(message.body.case, "chat");
  assert.equal(message.body.value.content, "hello all");
  assert.equal(message.body.value.clientSeq, 5n);
});

Deno.test("Hub - presence events share one payload between recipients", () => {
  const { hub, members: [alice, bob, carol] } = hubWith(3);
  hub.rename(carol, "carol");
  assert.ok(sameBytes(alice.sent[0], bob.sent[0]) && sameBytes(bob.sent[0], carol.sent[0]));
});

Deno.test("Hub - every member sees events in the order the hub accepted them", () => {
  const { hub, members: [alice, bob] } = hubWith(2);
  // No explicit flush: anything sent to a member flushes the batch before it.
  hub.broadcast({ body: { case: "pong", value: { nonce: 1n } } });
  hub.rename(alice, "alice");
  hub.broadcast({ body: { case: "pong", value: { nonce: 2n } } });
  hub.rename(bob, "guest-2");
  hub.broadcast({ body: { case: "pong", value: { nonce: 3n } } });
  hub.flush();
  const order = (member: FakeMember) => member.take().map((message) => message.body.case);
  assert.deepEqual(order(alice), ["pong", "presence", "pong", "pong"]);
  assert.deepEqual(order(bob), ["pong", "presence", "pong", "presence", "pong"]);
});

Deno.test("Hub - the broadcasts of one turn reach each member in one write, after the turn, as the same bytes", async () => {
  const hub = new BatchingHub();
  const members = [new ViewTakingMember(1n), new ViewTakingMember(2n)];
  for (const member of members) hub.join(member);
  hub.flush();
  for (const member of members) member.writes.length = 0;
  for (let nonce = 1n; nonce <= 3n; nonce++) {
    hub.broadcast({ body: { case: "pong", value: { nonce } } });
  }
  assert.equal(
    members[0].writes.length + members[1].writes.length,
    0,
    "nothing is sent during the turn",
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  const [first, second] = members.map((member) => member.writes);
  assert.equal(first.length, 1);
  assert.equal(second.length, 1);
  assert.equal(framedPayloads(first[0]).length, 3);
  assert.ok(first[0].buffer === second[0].buffer, "framed once, in one buffer, for everyone");
  assert.equal(first[0].byteOffset, second[0].byteOffset);
});

Deno.test("Hub - who lists everyone in order of arrival", () => {
  const hub = new Hub();
  assert.deepEqual(hub.who(), []);
  const members = [5n, 2n, 9n, 1n].map((id) => new FakeMember(id));
  for (const member of members) hub.join(member);
  hub.rename(members[2], "nine");
  assert.deepEqual(hub.who(), [
    { sessionId: 5n, nickname: "guest-5" },
    { sessionId: 2n, nickname: "guest-2" },
    { sessionId: 9n, nickname: "nine" },
    { sessionId: 1n, nickname: "guest-1" },
  ]);
  hub.leave(members[1]);
  assert.deepEqual(hub.who().map((user) => user.sessionId), [5n, 9n, 1n]);
});

Deno.test("Hub - past the presence limit, joins and leaves are not announced; who still lists everyone", () => {
  const hub = new Hub(undefined, 2);
  const [alice, bob, carol] = [1n, 2n, 3n].map((id) => new FakeMember(id));
  hub.join(alice);
  hub.join(bob);
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.JOINED, 2n, "guest-2", 2),
  ]);
  hub.join(carol);
  assert.deepEqual(alice.sent, [], "the third arrival is past the limit");
  assert.equal(hub.who().length, 3);
  hub.rename(carol, "carol");
  assert.equal(alice.takePresence()[0].kind, PresenceKind.RENAMED, "renames are still announced");
  hub.leave(carol);
  assert.deepEqual(alice.sent, [], "a departure from past the limit is not announced");
  hub.leave(bob);
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.LEFT, 2n, "guest-2", 1),
  ], "within the limit, departures are announced again");
});

Deno.test("Hub - a newcomer's own JOINED is left out of the shared batch it would share", () => {
  const hub = new BatchingHub();
  const [alice, bob] = [1n, 2n].map((id) => new FakeMember(id));
  hub.join(alice);
  hub.join(bob);
  hub.broadcast({ body: { case: "pong", value: { nonce: 1n } } });
  hub.flush();
  const kinds = (member: FakeMember) => member.messages().map((message) => message.body.case);
  assert.deepEqual(kinds(alice), ["presence", "pong"], "guest-2 joined, then the pong");
  assert.deepEqual(kinds(bob), ["pong"], "no JOINED about itself");
});

Deno.test("Hub - a crowd arriving costs each member one write, not one per arrival", () => {
  const hub = new BatchingHub();
  const members = Array.from({ length: 50 }, (_, i) => new FakeMember(BigInt(i + 1)));
  hub.join(members[0]);
  hub.flush();
  for (const member of members.slice(1)) hub.join(member);
  hub.flush();
  const joined = (member: FakeMember) => member.takePresence().map((event) => event.sessionId);
  const ids = (from: number) => Array.from({ length: 51 - from }, (_, i) => BigInt(from + i));
  assert.equal(members[0].writes, 1, "one batch for 49 arrivals");
  assert.deepEqual(joined(members[0]), ids(2));
  // Each newcomer hears of those who came after it, never of itself or those before.
  assert.deepEqual(joined(members[1]), ids(3));
  assert.deepEqual(joined(members[48]), [50n]);
  assert.equal(members[49].writes, 0);
});

Deno.test("Hub - a member leaving flushes nothing: the others get the batch with its LEFT", () => {
  const hub = new BatchingHub();
  const [alice, bob] = [1n, 2n].map((id) => new FakeMember(id));
  hub.join(alice);
  hub.join(bob);
  hub.flush();
  alice.sent.length = 0;
  const writesBefore = alice.writes + bob.writes;
  hub.broadcast({ body: { case: "pong", value: { nonce: 7n } } });
  hub.leave(bob);
  assert.equal(alice.writes + bob.writes, writesBefore, "nothing sent by the leave itself");
  hub.flush();
  assert.deepEqual(alice.take().map((message) => message.body.case), ["pong", "presence"]);
  assert.deepEqual(bob.sent, [], "a leaver, closing, is sent nothing more");
});

Deno.test("Hub - presence goes out by itself, without a chat to carry it", async () => {
  const hub = new BatchingHub();
  const alice = new FakeMember(1n);
  hub.join(alice);
  const arrived = Promise.withResolvers<void>();
  const deliver = alice.deliver.bind(alice);
  alice.deliver = (now, log) => {
    const position = deliver(now, log);
    if (alice.sent.length > 0) arrived.resolve();
    return position;
  };
  hub.join(new FakeMember(2n));
  const timeout = setTimeout(() => arrived.reject(new Error("no JOINED within 2 s")), 2000);
  await arrived.promise.finally(() => clearTimeout(timeout));
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.JOINED, 2n, "guest-2", 2),
  ]);
  hub.flush();
});

Deno.test("Hub - a rename goes out after the task, without the presence delay", async () => {
  const hub = new BatchingHub();
  const alice = new FakeMember(1n);
  hub.join(alice);
  hub.flush();
  assert.equal(hub.rename(alice, "al"), "renamed");
  await Promise.resolve();
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.RENAMED, 1n, "al", 1, "guest-1"),
  ]);
});

Deno.test("Hub - admit joins a member under its claimed name, and refuses one that is taken", () => {
  const { hub, members: [alice] } = hubWith(1);
  hub.rename(alice, "alice");
  alice.takePresence();
  const late = new FakeMember(2n);
  assert.equal(hub.admit(late, "ALICE"), "taken");
  assert.equal(hub.online, 1, "a refused member is not seen");
  assert.deepEqual(hub.who().map((user) => user.nickname), ["alice"]);

  const bob = new FakeMember(3n);
  assert.equal(hub.admit(bob, "bob"), "renamed");
  assert.equal(bob.nickname, "bob");
  assert.deepEqual(alice.takePresence().map(fields), [presence(PresenceKind.JOINED, 3n, "bob", 2)]);
  assert.deepEqual(hub.who().map((user) => user.nickname), ["alice", "bob"]);
});
