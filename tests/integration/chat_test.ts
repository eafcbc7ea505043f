import assert from "node:assert/strict";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

const chat = (content: string, action: Action, clientSeq = 1n) => ({
  body: { case: "chat" as const, value: { content, action, clientSeq } },
});

Deno.test("server - welcome is the first frame, with the guest name and limits", async () => {
  await using server = await ServerProcess.start(["--max-content-bytes", "100"]);
  await using alice = await TestClient.connect(server.port);
  assert.equal(alice.received[0].body.case, "welcome");
  assert.equal(alice.welcome.nickname, `guest-${alice.sessionId}`);
  assert.equal(alice.welcome.maxFrameBytes, 65536);
  assert.equal(alice.welcome.maxContentBytes, 100);
  assert.equal(alice.welcome.online, 1);
  assert.match(alice.welcome.server, /^deno-chat-server\//);
  await using bob = await TestClient.connect(server.port);
  assert.equal(bob.welcome.online, 2);
  assert.notEqual(bob.sessionId, alice.sessionId);
});

Deno.test("server - echo goes to the sender only", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  await using bob = await TestClient.connect(server.port);
  await alice.send(chat("just me", Action.ECHO, 7n));
  const echo = await alice.next("chat");
  assert.equal(echo.action, Action.ECHO);
  assert.equal(echo.content, "just me");
  assert.equal(echo.clientSeq, 7n);
  assert.equal(echo.fromSessionId, alice.sessionId);
  assert.ok(echo.sentAtUnixMs > 0n);
  // A later broadcast reaching bob proves the echo was not queued for him before it.
  await alice.send(chat("everyone", Action.BROADCAST, 8n));
  assert.equal((await bob.next("chat")).content, "everyone");
  assert.equal(bob.received.filter((m) => m.body.case === "chat").length, 1);
});

Deno.test("server - broadcast reaches everyone, the sender included, content unchanged", async () => {
  await using server = await ServerProcess.start();
  const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.port)));
  const content = "héllo 안녕하세요 🎉 \u0000 <b>x</b>";
  await clients[0].send(chat(content, Action.BROADCAST, 42n));
  for (const client of clients) {
    const event = await client.next("chat");
    assert.equal(event.action, Action.BROADCAST);
    assert.equal(event.content, content);
    assert.equal(event.fromSessionId, clients[0].sessionId);
    assert.equal(event.fromNickname, clients[0].welcome.nickname);
    assert.equal(event.clientSeq, 42n);
  }
  await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
});

Deno.test("server - presence tells the others of joins, renames and leaves", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  const bob = await TestClient.connect(server.port);

  const joined = await alice.next("presence");
  assert.equal(joined.kind, PresenceKind.JOINED);
  assert.equal(joined.sessionId, bob.sessionId);
  assert.equal(joined.nickname, bob.welcome.nickname);
  assert.equal(joined.online, 2);

  await bob.send({ body: { case: "hello", value: { nickname: "bob", client: "test" } } });
  for (const client of [alice, bob]) {
    const renamed = await client.next("presence");
    assert.equal(renamed.kind, PresenceKind.RENAMED);
    assert.equal(renamed.nickname, "bob");
    assert.equal(renamed.previousNickname, bob.welcome.nickname);
  }

  await bob[Symbol.asyncDispose]();
  const left = await alice.next("presence");
  assert.equal(left.kind, PresenceKind.LEFT);
  assert.equal(left.nickname, "bob");
  assert.equal(left.online, 1);
  // Bob never hears of his own join.
  assert.ok(
    !bob.received.some((m) =>
      m.body.case === "presence" && m.body.value.kind === PresenceKind.JOINED
    ),
  );
});

Deno.test("server - who lists everyone online in order of arrival; ping gets its nonce back", async () => {
  await using server = await ServerProcess.start();
  await using alice = await TestClient.connect(server.port);
  await using bob = await TestClient.connect(server.port);
  await bob.send({ body: { case: "hello", value: { nickname: "Bob" } } });
  await bob.nextPresence(PresenceKind.RENAMED);
  await alice.send({ body: { case: "who", value: {} } }, {
    body: { case: "ping", value: { nonce: 99n } },
  });
  const who = await alice.next("who");
  assert.deepEqual(who.users.map((u) => [u.sessionId, u.nickname]), [
    [alice.sessionId, alice.welcome.nickname],
    [bob.sessionId, "Bob"],
  ]);
  assert.equal((await alice.next("pong")).nonce, 99n);
});

Deno.test("server - nicknames are unique case-insensitively and follow the rules", async () => {
  // Many renames in a row: not what the rename limit is tested with.
  await using server = await ServerProcess.start(["--rename-limit", "0"]);
  await using alice = await TestClient.connect(server.port);
  await using bob = await TestClient.connect(server.port);
  const hello = (nickname: string) => ({ body: { case: "hello" as const, value: { nickname } } });

  await alice.send(hello("Alice"));
  assert.equal((await alice.nextPresence(PresenceKind.RENAMED)).nickname, "Alice");

  await bob.send(hello("ALICE"));
  const taken = await bob.next("error");
  assert.equal(taken.code, 8 /* NICKNAME_TAKEN */);
  assert.equal(taken.fatal, false);

  for (const bad of ["x".repeat(33), "has space", "emoji🎉", "tab\t", `guest-${alice.sessionId}`]) {
    await bob.send(hello(bad));
    const invalid = await bob.next("error");
    assert.equal(invalid.code, 9, /* NICKNAME_INVALID */ `for ${JSON.stringify(bad)}`);
    assert.equal(invalid.fatal, false);
  }

  for (const good of ["김철수", "x".repeat(32), "a_b-c.d", "Ünïcödé9"]) {
    await bob.send(hello(good));
    assert.equal((await bob.nextPresence(PresenceKind.RENAMED)).nickname, good);
  }
  // Still connected and served after all the refusals.
  await bob.send({ body: { case: "ping", value: { nonce: 1n } } });
  await bob.next("pong");
});

Deno.test("server - a nickname that looks like one online is taken, and like a guest name reserved", async () => {
  await using server = await ServerProcess.start(["--rename-limit", "0"]);
  await using alice = await TestClient.connect(server.port);
  await using mallory = await TestClient.connect(server.port);
  const hello = (nickname: string) => ({ body: { case: "hello" as const, value: { nickname } } });
  // The answer to mallory's Hello: an error, or the RENAMED of her own session.
  const answer = async (nickname: string) => {
    await mallory.send(hello(nickname));
    const { body } = await mallory.nextMatching((m) =>
      m.body.case === "error" ||
      (m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED &&
        m.body.value.sessionId === mallory.sessionId)
    );
    return body.case === "error"
      ? { code: body.value.code, message: body.value.message, fatal: body.value.fatal }
      : { renamed: body.case === "presence" ? body.value.nickname : "" };
  };

  await alice.send(hello("alice"));
  assert.equal((await alice.nextPresence(PresenceKind.RENAMED)).nickname, "alice");

  // "i" with a combining dot above, Latin alpha, Cyrillic а: each drawn as "alice".
  for (const lookAlike of ["ali\u0307ce", "\u0251lice", "\u0430lice"]) {
    assert.deepEqual(await answer(lookAlike), {
      code: 8, /* NICKNAME_TAKEN */
      message: `Nickname "${lookAlike}" is already taken`,
      fatal: false,
    });
  }

  // Latin script "ɡ": it passes for a guest name, so it is reserved like one.
  assert.deepEqual(await answer(`\u0261uest-${alice.sessionId}`), {
    code: 9, /* NICKNAME_INVALID */
    message: 'Nicknames starting with "guest-" are reserved for guests',
    fatal: false,
  });

  // A name that only resembles alice's in part is still free, and shown as typed.
  assert.deepEqual(await answer("\u0251licia"), { renamed: "\u0251licia" });
});
