import assert from "node:assert/strict";
import {
  Action,
  type Error as ErrorMessage,
  ErrorCode,
  type Presence,
  PresenceKind,
} from "../../gen/chat/v1/chat_pb.ts";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import { nicknameKey } from "../../lib/protocol/nickname.ts";
import type {
  Backplane,
  BackplaneListener,
  BackplaneStats,
  ClusterUser,
  HubEvent,
  NicknameClaim,
} from "../../lib/server/backplane.ts";
import { FakeMember, fields, joinMembers, presence } from "../support/fake_member.ts";
import { Hub } from "../support/immediate_hub.ts";

const NODE = 7;
const T0 = 1_700_000_000_000;

/** A backplane that records what the hub tells it and answers claims as told. */
class FakeBackplane implements Backplane {
  readonly node = NODE;
  readonly published: HubEvent[] = [];
  readonly claims: { user: ClusterUser; key: string; previousKey: string | undefined }[] = [];
  /** The answer to the next claims: a value, or a promise the test resolves by hand. */
  claimAnswer: NicknameClaim | Promise<NicknameClaim> = "claimed";
  listener: BackplaneListener | undefined;

  start(listener: BackplaneListener): void {
    this.listener = listener;
  }
  publish(event: HubEvent): void {
    this.published.push(event);
  }
  claimNickname(
    user: ClusterUser,
    key: string,
    previousKey: string | undefined,
  ): NicknameClaim | Promise<NicknameClaim> {
    this.claims.push({ user: { ...user }, key, previousKey });
    return this.claimAnswer;
  }
  stats(): BackplaneStats {
    return {
      state: "connected",
      eventsPublished: 0,
      eventsReceived: 0,
      eventsDropped: 0,
      outages: 0,
    };
  }
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
  /** Returns and forgets what was published so far. */
  take(): HubEvent[] {
    return this.published.splice(0);
  }
}

function remoteUser(sessionId: bigint, nickname: string, node = 3, joinedAt = T0): ClusterUser {
  return { sessionId, nickname, node, joinedAt };
}

/** Runs `body` with Date.now answering `now()`. */
function withClock<T>(now: () => number, body: () => T): T {
  const real = Date.now;
  Date.now = now;
  try {
    return body();
  } finally {
    Date.now = real;
  }
}

/**
 * A hub on a FakeBackplane with members 1..n joined as guest-1..guest-n, and what
 * their joins sent and published cleared.
 */
function clusterHub(n: number): { hub: Hub; backplane: FakeBackplane; members: FakeMember[] } {
  const backplane = new FakeBackplane();
  const hub = new Hub(backplane);
  const members = joinMembers(hub, n);
  backplane.take();
  return { hub, backplane, members };
}

/** Lets pending promise callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// --- What the hub publishes -------------------------------------------------------------

Deno.test("Hub cluster - the hub starts its backplane with itself as the listener", () => {
  const backplane = new FakeBackplane();
  const hub = new Hub(backplane);
  assert.ok(backplane.listener === hub);
});

Deno.test("Hub cluster - join publishes joined with this node and the member's nickname", () => {
  const backplane = new FakeBackplane();
  const hub = new Hub(backplane);
  const alice = new FakeMember(1n);
  alice.nickname = "alice";
  withClock(() => T0 + 5, () => hub.join(alice));
  assert.deepEqual(backplane.take(), [{
    kind: "joined",
    user: { sessionId: 1n, nickname: "alice", node: NODE, joinedAt: T0 + 5 },
  }]);
  assert.deepEqual(backplane.claims, [], "joining claims nothing");
});

Deno.test("Hub cluster - leave publishes left, once, and not for a non-member", () => {
  const { hub, backplane, members: [alice] } = clusterHub(2);
  hub.leave(new FakeMember(99n));
  assert.deepEqual(backplane.take(), []);
  hub.leave(alice);
  assert.deepEqual(backplane.take(), [{ kind: "left", sessionId: 1n }]);
  hub.leave(alice);
  assert.deepEqual(backplane.take(), []);
});

Deno.test("Hub cluster - broadcast publishes the payload delivered locally, encoded once", () => {
  const { hub, backplane, members } = clusterHub(2);
  hub.broadcast({
    body: {
      case: "chat",
      value: { action: Action.BROADCAST, content: "hi all", fromSessionId: 1n, clientSeq: 3n },
    },
  });
  hub.flush();
  const published = backplane.take();
  assert.equal(published.length, 1);
  const [event] = published;
  assert.equal(event.kind, "chat");
  for (const member of members) {
    assert.equal(member.sent.length, 1);
    assert.deepEqual(member.sent[0], event.payload, "the same bytes go out locally and remotely");
  }
  const message = decodeServerMessage(event.payload);
  assert.equal(message.body.case, "chat");
  assert.equal(message.body.value.content, "hi all");
});

Deno.test("Hub cluster - a successful rename claims the key, then publishes renamed", () => {
  const { hub, backplane, members: [alice, bob] } = clusterHub(2);
  assert.equal(hub.rename(alice, "Alice"), "renamed");
  assert.equal(backplane.claims.length, 1);
  const [claim] = backplane.claims;
  assert.equal(claim.key, nicknameKey("Alice"));
  // Keys are skeletons, in which "1" is "l": guest-1's is not "guest-1".
  assert.equal(claim.previousKey, nicknameKey("guest-1"));
  assert.equal(claim.user.sessionId, 1n);
  assert.equal(claim.user.nickname, "Alice");
  assert.equal(claim.user.node, NODE);
  assert.deepEqual(backplane.take(), [{ kind: "renamed", sessionId: 1n, nickname: "Alice" }]);
  assert.equal(alice.nickname, "Alice");
  assert.deepEqual(bob.takePresence().map(fields), [
    presence(PresenceKind.RENAMED, 1n, "Alice", 2, "guest-1"),
  ]);
});

Deno.test("Hub cluster - renaming to the exact current name neither claims nor publishes", () => {
  const { hub, backplane, members: [alice] } = clusterHub(2);
  assert.equal(hub.rename(alice, "guest-1"), "renamed");
  assert.deepEqual(backplane.claims, []);
  assert.deepEqual(backplane.take(), []);
});

Deno.test("Hub cluster - a claim answering taken or unavailable changes nothing", () => {
  for (const answer of ["taken", "unavailable"] as const) {
    const { hub, backplane, members: [alice, bob] } = clusterHub(2);
    backplane.claimAnswer = answer;
    assert.equal(hub.rename(alice, "zed"), answer);
    assert.equal(alice.nickname, "guest-1");
    assert.deepEqual(alice.sent, []);
    assert.deepEqual(bob.sent, []);
    assert.deepEqual(backplane.take(), [], answer);
    assert.deepEqual(hub.who().map((user) => user.nickname), ["guest-1", "guest-2"]);
    // The name is not left reserved: the next claim for it is made, and may succeed.
    backplane.claimAnswer = "claimed";
    assert.equal(hub.rename(bob, "ZED"), "renamed", answer);
    assert.equal(backplane.claims.length, 2);
  }
});

// --- Events from other servers ----------------------------------------------------------

Deno.test("Hub cluster - remote chat reaches every local member, none excluded", () => {
  const { hub, backplane, members } = clusterHub(3);
  const payload = new Uint8Array([1, 2, 3]);
  hub.remote({ kind: "chat", payload });
  hub.flush();
  for (const member of members) {
    assert.equal(member.sent.length, 1);
    assert.deepEqual(member.sent[0], payload, "relayed byte for byte, not re-encoded");
  }
  assert.deepEqual(backplane.take(), [], "a remote event is not published back");
});

Deno.test("Hub cluster - remote joined adds the user and announces it to everyone", () => {
  const { hub, backplane, members } = clusterHub(2);
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  assert.equal(hub.online, 3);
  for (const member of members) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.JOINED, 301n, "Zoe", 3),
    ]);
  }
  // Zoe joined (T0) before the local members (now).
  assert.deepEqual(hub.who(), [
    { sessionId: 301n, nickname: "Zoe" },
    { sessionId: 1n, nickname: "guest-1" },
    { sessionId: 2n, nickname: "guest-2" },
  ]);
  assert.deepEqual(hub.localUsers().map((user) => user.sessionId), [1n, 2n]);
  assert.deepEqual(backplane.take(), []);
});

Deno.test("Hub cluster - a duplicate remote joined is ignored", () => {
  const { hub, members: [alice] } = clusterHub(1);
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  alice.sent.length = 0;
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe-again") });
  assert.deepEqual(alice.sent, []);
  assert.equal(hub.online, 2);
  assert.deepEqual(hub.who(), [
    { sessionId: 301n, nickname: "Zoe" },
    { sessionId: 1n, nickname: "guest-1" },
  ]);
});

Deno.test("Hub cluster - the hub keeps its own copy of a remote user", () => {
  const { hub } = clusterHub(1);
  const user = remoteUser(301n, "Zoe");
  hub.remote({ kind: "joined", user });
  hub.remote({ kind: "renamed", sessionId: 301n, nickname: "Zed" });
  assert.equal(user.nickname, "Zoe", "the event's object is not changed");
});

Deno.test("Hub cluster - remote renamed is announced and makes the name taken locally", () => {
  const { hub, backplane, members: [alice, bob] } = clusterHub(2);
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  alice.sent.length = 0;
  bob.sent.length = 0;
  hub.remote({ kind: "renamed", sessionId: 301n, nickname: "Zed" });
  for (const member of [alice, bob]) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.RENAMED, 301n, "Zed", 3, "Zoe"),
    ]);
  }
  assert.equal(hub.rename(alice, "zED"), "taken");
  assert.deepEqual(backplane.claims, [], "the backplane is not asked for a name known taken");
  // The remote user's previous name is free again.
  assert.equal(hub.rename(alice, "zoe"), "renamed");
  assert.equal(backplane.claims.length, 1);
});

Deno.test("Hub cluster - a remote joined user's nickname is taken locally", () => {
  const { hub, backplane, members: [alice] } = clusterHub(1);
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  assert.equal(hub.rename(alice, "ZOE"), "taken");
  assert.deepEqual(backplane.claims, []);
});

Deno.test("Hub cluster - remote renamed or left of an unknown session is ignored", () => {
  const { hub, members: [alice] } = clusterHub(1);
  hub.remote({ kind: "renamed", sessionId: 404n, nickname: "ghost" });
  hub.remote({ kind: "left", sessionId: 404n });
  assert.deepEqual(alice.sent, []);
  assert.equal(hub.online, 1);
  assert.equal(hub.rename(alice, "ghost"), "renamed");
});

Deno.test("Hub cluster - remote left announces LEFT and frees the name", () => {
  const { hub, backplane, members: [alice, bob] } = clusterHub(2);
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  alice.sent.length = 0;
  bob.sent.length = 0;
  hub.remote({ kind: "left", sessionId: 301n });
  assert.equal(hub.online, 2);
  for (const member of [alice, bob]) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.LEFT, 301n, "Zoe", 2),
    ]);
  }
  assert.deepEqual(hub.who().map((user) => user.sessionId), [1n, 2n]);
  assert.equal(hub.rename(bob, "zoe"), "renamed");
  assert.equal(backplane.claims.length, 1);
  // A second left for the same session does nothing.
  alice.sent.length = 0;
  hub.remote({ kind: "left", sessionId: 301n });
  assert.deepEqual(alice.sent, []);
});

// --- Claims that wait -------------------------------------------------------------------

Deno.test("Hub cluster - a pending claim reserves the name against local sessions", async () => {
  const { hub, backplane, members: [alice, bob, carol] } = clusterHub(3);
  const claim = Promise.withResolvers<NicknameClaim>();
  backplane.claimAnswer = claim.promise;
  const result = hub.rename(alice, "Alice");
  assert.ok(result instanceof Promise);
  // Nothing has changed yet.
  assert.equal(alice.nickname, "guest-1");
  assert.deepEqual(hub.who()[0], { sessionId: 1n, nickname: "guest-1" });
  // Another local session asking meanwhile is told at once, without a claim.
  assert.equal(hub.rename(bob, "alice"), "taken");
  assert.equal(backplane.claims.length, 1);
  await settle();
  for (const member of [alice, bob, carol]) assert.deepEqual(member.sent, []);
  assert.deepEqual(backplane.take(), []);

  claim.resolve("claimed");
  assert.equal(await result, "renamed");
  assert.equal(alice.nickname, "Alice");
  for (const member of [alice, bob, carol]) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.RENAMED, 1n, "Alice", 3, "guest-1"),
    ]);
  }
  assert.deepEqual(backplane.take(), [{ kind: "renamed", sessionId: 1n, nickname: "Alice" }]);
  assert.equal(hub.rename(bob, "ALICE"), "taken");
});

Deno.test("Hub cluster - a pending claim answering taken or unavailable frees the reservation", async () => {
  for (const answer of ["taken", "unavailable"] as const) {
    const { hub, backplane, members: [alice, bob] } = clusterHub(2);
    const claim = Promise.withResolvers<NicknameClaim>();
    backplane.claimAnswer = claim.promise;
    const result = hub.rename(alice, "Alice");
    assert.equal(hub.rename(bob, "alice"), "taken");
    claim.resolve(answer);
    assert.equal(await result, answer);
    assert.equal(alice.nickname, "guest-1");
    assert.deepEqual(alice.sent, []);
    assert.deepEqual(bob.sent, []);
    assert.deepEqual(backplane.take(), []);
    assert.deepEqual(hub.who().map((user) => user.nickname), ["guest-1", "guest-2"]);
    // Alice keeps her own name: her guest name is still hers.
    assert.equal(hub.rename(bob, "guest-1"), "taken");
    backplane.claimAnswer = "claimed";
    assert.equal(hub.rename(bob, "alice"), "renamed", answer);
  }
});

Deno.test("Hub cluster - a failed pending claim for one's own name in another case keeps it", async () => {
  const { hub, backplane, members: [alice, bob] } = clusterHub(2);
  assert.equal(hub.rename(alice, "alice"), "renamed");
  const claim = Promise.withResolvers<NicknameClaim>();
  backplane.claimAnswer = claim.promise;
  const result = hub.rename(alice, "ALICE");
  claim.resolve("unavailable");
  assert.equal(await result, "unavailable");
  assert.equal(alice.nickname, "alice");
  backplane.claimAnswer = "claimed";
  assert.equal(hub.rename(bob, "Alice"), "taken", "the name alice holds stays hers");
});

Deno.test("Hub cluster - a member that leaves while its claim is pending is not renamed", async () => {
  const { hub, backplane, members: [alice, bob] } = clusterHub(2);
  const claim = Promise.withResolvers<NicknameClaim>();
  backplane.claimAnswer = claim.promise;
  const result = hub.rename(alice, "Alice");
  hub.leave(alice);
  assert.deepEqual(backplane.take(), [{ kind: "left", sessionId: 1n }]);
  bob.sent.length = 0;
  claim.resolve("claimed");
  assert.notEqual(await result, "renamed");
  assert.equal(alice.nickname, "guest-1");
  assert.deepEqual(alice.sent, []);
  assert.deepEqual(bob.sent, []);
  assert.deepEqual(backplane.take(), [], "no renamed event for a session that left");
  assert.equal(hub.online, 1);
  backplane.claimAnswer = "claimed";
  assert.equal(hub.rename(bob, "alice"), "renamed", "the reservation was freed");
});

// --- Whole servers ----------------------------------------------------------------------

Deno.test("Hub cluster - serverUsers reconciles one server's users", () => {
  const { hub, backplane, members: [alice] } = clusterHub(1);
  hub.serverUsers(3, [remoteUser(301n, "Zoe"), remoteUser(302n, "Yan"), remoteUser(303n, "Xi")]);
  assert.equal(hub.online, 4);
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.JOINED, 301n, "Zoe", 2),
    presence(PresenceKind.JOINED, 302n, "Yan", 3),
    presence(PresenceKind.JOINED, 303n, "Xi", 4),
  ]);
  // Another server's users are not touched by this one's list.
  hub.serverUsers(4, [remoteUser(401n, "Wu", 4)]);
  alice.sent.length = 0;

  // 301 is gone, 302 was renamed, 303 is unchanged, 304 is new.
  hub.serverUsers(3, [
    remoteUser(302n, "Yann"),
    remoteUser(303n, "Xi"),
    remoteUser(304n, "Vic"),
  ]);
  assert.deepEqual(alice.takePresence().map(fields), [
    presence(PresenceKind.LEFT, 301n, "Zoe", 4),
    presence(PresenceKind.RENAMED, 302n, "Yann", 4, "Yan"),
    presence(PresenceKind.JOINED, 304n, "Vic", 5),
  ]);
  assert.deepEqual(
    hub.who().map((user) => user.nickname).sort(),
    ["Vic", "Wu", "Xi", "Yann", "guest-1"],
  );
  assert.deepEqual(backplane.take(), [], "reconciling publishes nothing");
  assert.deepEqual(backplane.claims, []);
  // The names follow: Zoe and Yan are free, Yann and Vic are taken.
  assert.equal(hub.rename(alice, "vic"), "taken");
  assert.equal(hub.rename(alice, "yann"), "taken");
  assert.equal(hub.rename(alice, "yan"), "renamed");
  assert.equal(hub.rename(alice, "zoe"), "renamed");
});

Deno.test("Hub cluster - serverUsers with an empty list makes that server's users leave", () => {
  const { hub, members: [alice] } = clusterHub(1);
  hub.serverUsers(3, [remoteUser(301n, "Zoe")]);
  alice.sent.length = 0;
  hub.serverUsers(3, []);
  assert.deepEqual(alice.takePresence().map(fields), [presence(PresenceKind.LEFT, 301n, "Zoe", 1)]);
  assert.equal(hub.online, 1);
});

Deno.test("Hub cluster - serverGone makes that server's users leave, local members untouched", () => {
  const { hub, backplane, members: [alice, bob] } = clusterHub(2);
  hub.serverUsers(3, [remoteUser(301n, "Zoe"), remoteUser(302n, "Yan")]);
  hub.serverUsers(4, [remoteUser(401n, "Wu", 4)]);
  alice.sent.length = 0;
  bob.sent.length = 0;
  hub.serverGone(3);
  for (const member of [alice, bob]) {
    assert.deepEqual(member.takePresence().map(fields), [
      presence(PresenceKind.LEFT, 301n, "Zoe", 4),
      presence(PresenceKind.LEFT, 302n, "Yan", 3),
    ]);
  }
  assert.equal(hub.online, 3);
  assert.deepEqual(hub.localUsers().map((user) => user.sessionId), [1n, 2n]);
  assert.deepEqual(hub.who().map((user) => user.sessionId), [401n, 1n, 2n]);
  assert.deepEqual(backplane.take(), []);
  // Local members still get chat.
  hub.broadcast({ body: { case: "pong", value: { nonce: 1n } } });
  hub.flush();
  assert.equal(alice.sent.length, 1);
  assert.equal(bob.sent.length, 1);
  // A server gone twice, or never known, changes nothing.
  alice.sent.length = 0;
  hub.serverGone(3);
  hub.serverGone(9);
  assert.deepEqual(alice.sent, []);
});

// --- A nickname lost to another server --------------------------------------------------

Deno.test("Hub cluster - nicknameLost makes the member a guest again and tells everyone", () => {
  const { hub, backplane, members: [alice, bob] } = clusterHub(2);
  assert.equal(hub.rename(alice, "Alice"), "renamed");
  alice.sent.length = 0;
  bob.sent.length = 0;
  backplane.take();

  hub.nicknameLost(1n);
  assert.equal(alice.nickname, "guest-1");
  assert.deepEqual(bob.takePresence().map(fields), [
    presence(PresenceKind.RENAMED, 1n, "guest-1", 2, "Alice"),
  ]);
  const [renamed, error, ...rest] = alice.take();
  assert.deepEqual(rest, []);
  assert.equal(renamed.body.case, "presence");
  assert.deepEqual(
    fields(renamed.body.value as Presence),
    presence(PresenceKind.RENAMED, 1n, "guest-1", 2, "Alice"),
  );
  assert.equal(error.body.case, "error");
  const { code, message } = error.body.value as ErrorMessage;
  assert.equal(code, ErrorCode.NICKNAME_TAKEN);
  assert.match(message, /Alice/);
  assert.match(message, /guest-1/);
  assert.deepEqual(backplane.take(), [{ kind: "renamed", sessionId: 1n, nickname: "guest-1" }]);
  assert.deepEqual(hub.who()[0], { sessionId: 1n, nickname: "guest-1" });
  assert.deepEqual(hub.localUsers()[0].nickname, "guest-1");
  // The lost name is no longer held here.
  assert.equal(hub.rename(bob, "alice"), "renamed");
});

Deno.test("Hub cluster - nicknameLost of a remote or unknown session does nothing", () => {
  const { hub, backplane, members: [alice] } = clusterHub(1);
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  alice.sent.length = 0;
  hub.nicknameLost(301n);
  hub.nicknameLost(404n);
  assert.deepEqual(alice.sent, []);
  assert.deepEqual(backplane.take(), []);
  assert.ok(hub.who().some((user) => user.nickname === "Zoe"));
});

// --- who and localUsers -----------------------------------------------------------------

Deno.test("Hub cluster - who is ordered by joinedAt across servers", () => {
  const backplane = new FakeBackplane();
  const hub = new Hub(backplane);
  withClock(() => T0 + 100, () => hub.join(new FakeMember(1n)));
  hub.remote({ kind: "joined", user: remoteUser(301n, "early", 3, T0 + 10) });
  hub.serverUsers(4, [remoteUser(401n, "earliest", 4, T0), remoteUser(402n, "late", 4, T0 + 500)]);
  withClock(() => T0 + 200, () => hub.join(new FakeMember(2n)));
  assert.deepEqual(hub.who(), [
    { sessionId: 401n, nickname: "earliest" },
    { sessionId: 301n, nickname: "early" },
    { sessionId: 1n, nickname: "guest-1" },
    { sessionId: 2n, nickname: "guest-2" },
    { sessionId: 402n, nickname: "late" },
  ]);
});

Deno.test("Hub cluster - users who joined in the same millisecond keep their order of arrival", () => {
  const backplane = new FakeBackplane();
  const hub = new Hub(backplane);
  withClock(() => T0, () => hub.join(new FakeMember(5n)));
  hub.remote({ kind: "joined", user: remoteUser(302n, "b", 3, T0) });
  hub.remote({ kind: "joined", user: remoteUser(301n, "a", 3, T0) });
  withClock(() => T0, () => hub.join(new FakeMember(2n)));
  hub.serverUsers(4, [remoteUser(402n, "d", 4, T0), remoteUser(401n, "c", 4, T0)]);
  assert.deepEqual(hub.who().map((user) => user.sessionId), [5n, 302n, 301n, 2n, 402n, 401n]);
});

Deno.test("Hub cluster - localUsers lists only this server's members, as they stand", () => {
  const backplane = new FakeBackplane();
  const hub = new Hub(backplane);
  assert.deepEqual(hub.localUsers(), []);
  const alice = new FakeMember(1n);
  const bob = new FakeMember(2n);
  withClock(() => T0 + 1, () => hub.join(alice));
  hub.remote({ kind: "joined", user: remoteUser(301n, "Zoe") });
  withClock(() => T0 + 2, () => hub.join(bob));
  hub.serverUsers(4, [remoteUser(401n, "Wu", 4)]);
  assert.equal(hub.rename(bob, "Bob"), "renamed");
  assert.deepEqual(hub.localUsers(), [
    { sessionId: 1n, nickname: "guest-1", node: NODE, joinedAt: T0 + 1 },
    { sessionId: 2n, nickname: "Bob", node: NODE, joinedAt: T0 + 2 },
  ]);
  hub.leave(alice);
  assert.deepEqual(hub.localUsers().map((user) => user.sessionId), [2n]);
});
