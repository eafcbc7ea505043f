import assert from "node:assert/strict";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { Hub } from "../../lib/server/hub.ts";
import { NullHistory } from "../../lib/server/history/null_history.ts";
import { FakeMember, joinMembers } from "../support/fake_member.ts";

const message = (from: FakeMember, content: string) => ({
  content,
  fromSessionId: from.id,
  fromNickname: from.nickname,
  clientSeq: 1n,
  sentAtUnixMs: 1_700_000_000_000,
});

/** What a member was sent, as "case room content" lines. */
function seen(member: FakeMember): string[] {
  return member.take().map((m) => {
    switch (m.body.case) {
      case "chat":
        return `chat ${m.body.value.room} ${m.body.value.content}`;
      case "presence":
        return `${PresenceKind[m.body.value.kind]} ${m.body.value.room} ${m.body.value.nickname}`;
      default:
        return m.body.case ?? "";
    }
  });
}

Deno.test("Hub rooms - a room's chat and presence reach its members only", () => {
  using hub = new Hub();
  const [alice, bob, carol] = joinMembers(hub, 3);
  hub.flush();
  for (const member of [alice, bob, carol]) seen(member);
  assert.equal(hub.joinRoom(alice, "#dev"), "joined");
  assert.equal(hub.joinRoom(bob, "#dev"), "joined");
  assert.equal(hub.joinRoom(bob, "#dev"), "member");
  assert.equal(hub.chat(alice, "#dev", message(alice, "hi dev")), "sent");
  hub.flush();
  assert.deepEqual(seen(alice), ["JOINED #dev guest-2", "chat #dev hi dev"]);
  assert.deepEqual(seen(bob), ["chat #dev hi dev"]);
  assert.deepEqual(seen(carol), []);
  assert.equal(hub.chat(carol, "#dev", message(carol, "let me in")), "not_in_room");
});

Deno.test("Hub rooms - a departure is told in every room of the one who left, and empty rooms are forgotten", () => {
  using hub = new Hub();
  const [alice, bob] = joinMembers(hub, 2);
  hub.joinRoom(alice, "#dev");
  hub.joinRoom(bob, "#dev");
  hub.joinRoom(bob, "#ops");
  hub.flush();
  seen(alice);
  hub.leave(bob);
  hub.flush();
  assert.deepEqual(seen(alice).sort(), ["LEFT  guest-2", "LEFT #dev guest-2"]);
  assert.deepEqual(hub.rooms(), [{ name: "#dev", members: 1 }, { name: "#lobby", members: 1 }]);
  assert.equal(hub.fanoutStats().rooms, 2, "#ops is gone");
});

Deno.test("Hub rooms - parting writes what the room had for the member, then nothing more", () => {
  using hub = new Hub();
  const [alice, bob] = joinMembers(hub, 2);
  hub.joinRoom(alice, "#dev");
  hub.joinRoom(bob, "#dev");
  hub.chat(alice, "#dev", message(alice, "before"));
  assert.equal(hub.partRoom(bob, "#dev"), true);
  hub.chat(alice, "#dev", message(alice, "after"));
  hub.flush();
  assert.deepEqual(seen(bob), ["chat #dev before"]);
  assert.equal(hub.partRoom(bob, "#dev"), false);
});

Deno.test("Hub rooms - a rename is told in each room of the renamed, and to it when it is in none", () => {
  using hub = new Hub();
  const [alice, bob] = joinMembers(hub, 2);
  hub.joinRoom(alice, "#dev");
  hub.joinRoom(bob, "#dev");
  hub.flush();
  seen(alice);
  seen(bob);
  hub.rename(alice, "alice");
  hub.flush();
  assert.deepEqual(seen(bob).sort(), ["RENAMED  alice", "RENAMED #dev alice"]);
  hub.partRoom(bob, "#dev");
  hub.partRoom(bob, "#lobby");
  hub.flush();
  seen(bob);
  hub.rename(bob, "bob");
  hub.flush();
  assert.deepEqual(seen(bob), ["RENAMED  bob"], "its confirmation, though in no room");
});

Deno.test("Hub rooms - a private message reaches the one user, and the sender a copy naming them", () => {
  using hub = new Hub();
  const [alice, bob, carol] = joinMembers(hub, 3);
  hub.rename(bob, "Bob");
  hub.flush();
  for (const member of [alice, bob, carol]) seen(member);
  assert.equal(hub.privateMessage(alice, "BOB", message(alice, "psst")), "sent");
  const [received] = bob.take();
  assert.ok(received.body.case === "chat");
  assert.equal(received.body.value.action, Action.PRIVATE);
  assert.equal(received.body.value.toNickname, "");
  const [copy] = alice.take();
  assert.ok(copy.body.case === "chat");
  assert.equal(copy.body.value.toNickname, "Bob");
  assert.deepEqual(seen(carol), []);
  assert.equal(hub.privateMessage(alice, "nobody", message(alice, "?")), "no_such_user");
});

Deno.test("Hub rooms - a session may be in 50 rooms, and a server holds at most maxRooms", () => {
  using hub = new Hub(undefined, Infinity, Infinity, { maxRooms: 3 });
  const [alice, bob] = joinMembers(hub, 2);
  assert.equal(hub.joinRoom(alice, "#a"), "joined");
  assert.equal(hub.joinRoom(alice, "#b"), "joined");
  assert.equal(hub.joinRoom(bob, "#c"), "limit", "the lobby, #a and #b are 3");
  assert.equal(hub.joinRoom(bob, "#a"), "joined", "an existing room is no new one");
  using roomy = new Hub();
  const [member] = joinMembers(roomy, 1);
  for (let n = 1; n < 50; n++) assert.equal(roomy.joinRoom(member, `#r${n}`), "joined");
  assert.equal(roomy.joinRoom(member, "#r50"), "full");
});

/** History whose last ids come when the test says, as from a slow Redis. */
class SlowLastIdHistory extends NullHistory {
  readonly reads: PromiseWithResolvers<bigint>[] = [];
  lastEventId(): Promise<bigint> {
    const read = Promise.withResolvers<bigint>();
    this.reads.push(read);
    return read.promise;
  }
}

for (const settle of ["resolves", "rejects"] as const) {
  Deno.test(`Hub rooms - a forgotten room whose last id ${settle} late leaves the room made since alone`, async () => {
    const history = new SlowLastIdHistory();
    using hub = new Hub(undefined, Infinity, Infinity, { history });
    const [alice] = joinMembers(hub, 1);
    assert.equal(hub.joinRoom(alice, "#dev"), "joined");
    assert.equal(hub.partRoom(alice, "#dev"), true);
    hub.flush(); // Empty: forgotten, its last id still on its way.
    assert.equal(hub.joinRoom(alice, "#dev"), "joined");
    hub.flush();
    const [late, current] = history.reads.slice(-2);
    if (settle === "resolves") late.resolve(0n);
    else late.reject(new Error("timed out"));
    current.resolve(0n);
    await Promise.allSettled([late.promise, current.promise]);
    hub.flush();
    assert.equal(hub.isInRoom(alice, "#dev"), true);
    assert.notEqual(hub.chat(alice, "#dev", message(alice, "hello")), "not_in_room");
  });
}
