import assert from "node:assert/strict";
import { AccountChange, ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { ChatClient, type ClientEvent } from "../../lib/client/chat_client.ts";
import { errorMessage } from "../../lib/protocol/error_message.ts";
import { deadline } from "../support/deadline.ts";
import { type ScriptedConnection, ScriptedServer } from "../support/scripted_server.ts";
import { accountChanged, renamed, scriptedWelcome } from "../support/scripted_welcome.ts";

const welcome = (sessionId: bigint, passwordsAccepted: boolean) =>
  scriptedWelcome(sessionId, { passwordsAccepted });

/** A client of the scripted server, its events, and a way to wait for one. */
function start(server: ScriptedServer, nickname: string, password?: string) {
  const events: ClientEvent[] = [];
  let wake: (() => void) | undefined;
  const client = new ChatClient({
    port: server.port,
    nickname,
    password,
    backoff: { initialMs: 10, maxMs: 10 },
    onEvent: (event) => {
      events.push(event);
      wake?.();
    },
  });
  const waitFor = <T extends ClientEvent>(
    found: (event: ClientEvent) => event is T,
    what: string,
  ) =>
    deadline(
      (async () => {
        while (true) {
          const event = events.find(found);
          if (event !== undefined) return event;
          await new Promise<void>((resolve) => wake = resolve);
        }
      })(),
      10_000,
      () => `${what}; events: ${events.map((event) => event.type).join(", ")}`,
    );
  return { client, events, waitFor };
}

/** Welcomes the client and returns its Hello. */
async function welcomeAndHello(connection: ScriptedConnection, id: bigint, accepted: boolean) {
  await connection.send(welcome(id, accepted));
  return await connection.next("hello");
}

Deno.test("ChatClient accounts - the Hello carries the password only when the server accepts passwords", async () => {
  await using server = new ScriptedServer();
  const safe = start(server, "alice", "secret123");
  try {
    const hello = await welcomeAndHello(await server.accept(), 1n, true);
    assert.equal(hello.nickname, "alice");
    assert.equal(hello.password, "secret123");
    const connected = await safe.waitFor(
      (e): e is Extract<ClientEvent, { type: "connected" }> => e.type === "connected",
      "connected",
    );
    assert.equal(connected.identifying, true);
    assert.ok(!safe.events.some((event) => event.type === "password_withheld"));
  } finally {
    await safe.client.close();
  }

  const plain = start(server, "alice", "secret123");
  try {
    const hello = await welcomeAndHello(await server.accept(), 2n, false);
    assert.equal(hello.nickname, "alice");
    assert.equal(hello.password, "");
    const withheld = await plain.waitFor(
      (e): e is Extract<ClientEvent, { type: "password_withheld" }> =>
        e.type === "password_withheld",
      "the password withheld",
    );
    assert.equal(withheld.address, `127.0.0.1:${server.port}`);
    // Nor is one sent on request.
    assert.equal(plain.client.register("another1"), false);
    assert.equal(plain.client.identify("alice", "secret123"), false);
    assert.equal(plain.client.changePassword("secret123", "another1"), false);
    assert.equal(plain.client.unregister("secret123"), false);
  } finally {
    await plain.client.close();
  }
});

Deno.test("ChatClient accounts - register, change password and unregister send their requests, each answered by its AccountChanged", async () => {
  await using server = new ScriptedServer();
  const { client, events, waitFor } = start(server, "alice");
  try {
    const connection = await server.accept();
    assert.equal((await welcomeAndHello(connection, 1n, true)).password, "");
    await connection.send(renamed(1n, "alice"));

    assert.ok(client.register("secret123"));
    assert.deepEqual((await connection.next("register")).password, "secret123");
    assert.ok(client.changePassword("secret123", "better456"));
    const change = await connection.next("changePassword");
    assert.deepEqual([change.oldPassword, change.newPassword], ["secret123", "better456"]);
    assert.ok(client.unregister("better456"));
    assert.equal((await connection.next("unregister")).password, "better456");

    await connection.send(
      accountChanged(AccountChange.REGISTERED, "alice"),
      accountChanged(AccountChange.PASSWORD_CHANGED, "alice"),
      errorMessage(ErrorCode.AUTH_FAILED, "Wrong password for alice"),
    );
    const answered = () =>
      events.flatMap((event) =>
        event.type === "message" && event.answers?.kind === "account"
          ? [
            event.message.body.case === "account"
              ? AccountChange[event.message.body.value.change]
              : `error ${ErrorCode[(event.message.body.value as { code: ErrorCode }).code]}`,
          ]
          : []
      );
    await waitFor((_e): _e is ClientEvent => answered().length === 3, "three answers");
    assert.deepEqual(answered(), ["REGISTERED", "PASSWORD_CHANGED", "error AUTH_FAILED"]);
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient accounts - a reconnect identifies again, with the password a registration or a change set", async () => {
  await using server = new ScriptedServer();
  const { client, waitFor } = start(server, "alice");
  try {
    const first = await server.accept();
    await welcomeAndHello(first, 1n, true);
    await first.send(renamed(1n, "alice"));
    client.register("secret123");
    await first.next("register");
    await first.send(accountChanged(AccountChange.REGISTERED, "alice"));
    await waitFor(
      (e): e is ClientEvent => e.type === "message" && e.message.body.case === "account",
      "the registration",
    );
    first.close();

    const second = await server.accept();
    const hello = await welcomeAndHello(second, 2n, true);
    assert.deepEqual([hello.nickname, hello.password], ["alice", "secret123"]);
    await second.send(renamed(2n, "alice"), accountChanged(AccountChange.IDENTIFIED, "alice"));
    client.changePassword("secret123", "better456");
    await second.next("changePassword");
    await second.send(accountChanged(AccountChange.PASSWORD_CHANGED, "alice"));
    await waitFor(
      (e): e is ClientEvent =>
        e.type === "message" && e.message.body.case === "account" &&
        e.message.body.value.change === AccountChange.PASSWORD_CHANGED,
      "the change",
    );
    second.close();

    const third = await server.accept();
    assert.equal((await welcomeAndHello(third, 3n, true)).password, "better456");
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient accounts - NICKNAME_REGISTERED keeps the guest name, is not asked again, and identify takes the name for good", async () => {
  await using server = new ScriptedServer();
  const { client, events, waitFor } = start(server, "alice");
  try {
    const first = await server.accept();
    await welcomeAndHello(first, 1n, true);
    await first.send(errorMessage(ErrorCode.NICKNAME_REGISTERED, "alice is registered"));
    const refusal = await waitFor(
      (e): e is Extract<ClientEvent, { type: "message" }> =>
        e.type === "message" && e.message.body.case === "error",
      "the refusal",
    );
    assert.deepEqual(refusal.answers, { kind: "nick", room: "", automatic: true });
    assert.equal(client.nickname, "guest-1");
    assert.equal(client.registeredNickname, "alice");
    first.close();

    const second = await server.accept();
    assert.deepEqual((await welcomeAndHello(second, 2n, true)).nickname, "");
    assert.ok(client.identify("alice", "secret123"));
    const identify = await second.next("hello");
    assert.deepEqual([identify.nickname, identify.password], ["alice", "secret123"]);
    await second.send(renamed(2n, "alice"), accountChanged(AccountChange.IDENTIFIED, "alice"));
    await waitFor(
      (e): e is ClientEvent => e.type === "message" && e.answers?.kind === "identify",
      "the identification",
    );
    assert.equal(client.nickname, "alice");
    assert.ok(!events.some((event) => event.type === "password_withheld"));
    second.close();

    const third = await server.accept();
    const hello = await welcomeAndHello(third, 3n, true);
    assert.deepEqual([hello.nickname, hello.password], ["alice", "secret123"]);
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient accounts - AUTH_REQUIRED ends the client: reconnecting cannot help", async () => {
  await using server = new ScriptedServer();
  const { client } = start(server, "");
  const connection = await server.accept();
  await welcomeAndHello(connection, 1n, true);
  await connection.send({
    body: {
      case: "error",
      value: { code: ErrorCode.AUTH_REQUIRED, message: "Registered users only", fatal: true },
    },
  });
  connection.close();
  assert.equal(await deadline(client.done, 10_000, "the client to give up"), false);
});
