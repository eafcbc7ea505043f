import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  Action,
  type ClientMessage,
  ClientMessageSchema,
  type Error as ErrorMessage,
  ErrorCode,
  type ServerMessage,
} from "../../gen/chat/v1/chat_pb.ts";
import {
  type ClientMessageInit,
  decodeClientMessage,
  decodeServerMessage,
  encodeClientMessage,
  encodeServerMessage,
  type ServerMessageInit,
} from "../../lib/protocol/codec.ts";
import {
  handleClientMessage,
  handleFrame,
  type HandlerContext,
} from "../../lib/server/handlers.ts";
import type {
  ChatMessage,
  ChatResult,
  JoinResult,
  OnlineUser,
  PrivateResult,
  RenameResult,
  RoomInfo,
} from "../../lib/server/hub.ts";
import type { HistoryPage, MissedEvents } from "../../lib/server/history/history_store.ts";
import { MAX_CLIENT_NAME_BYTES } from "../../lib/protocol/limits.ts";
import { NoAccounts } from "../../lib/server/accounts/account_store.ts";
import { Accounts } from "../../lib/server/accounts/accounts.ts";
import { FailedLogins } from "../../lib/server/accounts/failed_logins.ts";

const NOW = 1_700_000_000_123;

/** A HandlerContext that records what the handlers do. */
class FakeContext implements HandlerContext {
  readonly sessionId = 7n;
  readonly nickname: string;
  readonly maxContentBytes: number;
  readonly replies: ServerMessage[] = [];
  readonly broadcasts: ServerMessage[] = [];
  readonly renames: string[] = [];
  readonly clientNames: string[] = [];
  renameResult: RenameResult | Promise<RenameResult> = "renamed";
  chatAllowed = true;
  users: OnlineUser[] = [];

  constructor(options: { nickname?: string; maxContentBytes?: number } = {}) {
    this.nickname = options.nickname ?? "alice";
    this.maxContentBytes = options.maxContentBytes ?? 4096;
  }

  // Round-trips every message, so a reply the wire cannot carry fails the test.
  reply(message: ServerMessageInit): void {
    this.replies.push(decodeServerMessage(encodeServerMessage(message)));
  }
  readonly historyOnJoin = 50;
  readonly historySize = 1000;
  readonly rooms_ = new Set(["#lobby"]);
  broadcast(room: string, message: ChatMessage): ChatResult {
    if (!this.rooms_.has(room)) return "not_in_room";
    this.broadcasts.push(decodeServerMessage(encodeServerMessage({
      body: {
        case: "chat",
        value: {
          ...message,
          action: Action.BROADCAST,
          sentAtUnixMs: BigInt(message.sentAtUnixMs),
          room: room === "#lobby" ? "" : room,
        },
      },
    })));
    return "sent";
  }
  replyHistory<Page extends HistoryPage>(read: () => Promise<Page>): Promise<Page> {
    return read();
  }
  privateMessage(): PrivateResult {
    return "no_such_user";
  }
  joinRoom(room: string): JoinResult {
    if (this.rooms_.has(room)) return "member";
    this.rooms_.add(room);
    return "joined";
  }
  partRoom(room: string): boolean {
    return this.rooms_.delete(room);
  }
  isInRoom(room: string): boolean {
    return this.rooms_.has(room);
  }
  roomMembers(room: string): number {
    return this.rooms_.has(room) ? 1 : 0;
  }
  rooms(): Promise<{ rooms: RoomInfo[]; truncated: boolean }> {
    return Promise.resolve({ rooms: [], truncated: false });
  }
  historyBefore(): Promise<HistoryPage> {
    return Promise.resolve({ events: [], more: false });
  }
  historyAfter(): Promise<MissedEvents> {
    return Promise.resolve({ events: [], more: false, missed: 0n, lastId: 0n });
  }
  allowRoomRequest(): boolean {
    return true;
  }
  allowRename(): boolean {
    return true;
  }

  allowChat(): boolean {
    return this.chatAllowed;
  }
  rename(nickname: string): RenameResult | Promise<RenameResult> {
    this.renames.push(nickname);
    return this.renameResult;
  }
  setClientName(name: string): void {
    this.clientNames.push(name);
  }
  who(): OnlineUser[] {
    return this.users;
  }
  now(): number {
    return NOW;
  }
  readonly address = "192.0.2.1";
  readonly accounts = new Accounts(new NoAccounts("none"), new FailedLogins({}, { log() {} }));
  passwordsAccepted = false;
  requireAccount = false;
  readonly admitted = true;
  readonly identifiedAs = undefined;
  identify(): void {}
  admit(): RenameResult {
    return "renamed";
  }
  fail(): void {}
  logAccount(): void {}

  /** The only thing sent: one reply that is an Error. */
  onlyError(): ErrorMessage {
    assert.equal(this.broadcasts.length, 0, "no broadcast expected");
    assert.equal(this.replies.length, 1, "exactly one reply expected");
    const body = this.replies[0].body;
    assert.equal(body.case, "error");
    return body.value as ErrorMessage;
  }
}

function message(init: ClientMessageInit): ClientMessage {
  return create(ClientMessageSchema, init);
}

function chat(content: string, action: Action, clientSeq = 1n): ClientMessage {
  return message({ body: { case: "chat", value: { content, action, clientSeq } } });
}

function hello(nickname: string, client = ""): ClientMessage {
  return message({ body: { case: "hello", value: { nickname, client } } });
}

Deno.test("handlers - echo replies once with the chat event", () => {
  const context = new FakeContext();
  handleClientMessage(context, chat("hi there", Action.ECHO, 42n));
  assert.equal(context.broadcasts.length, 0);
  assert.equal(context.replies.length, 1);
  const body = context.replies[0].body;
  assert.equal(body.case, "chat");
  assert.equal(body.value.action, Action.ECHO);
  assert.equal(body.value.content, "hi there");
  assert.equal(body.value.clientSeq, 42n);
  assert.equal(body.value.fromSessionId, 7n);
  assert.equal(body.value.fromNickname, "alice");
  assert.equal(body.value.sentAtUnixMs, BigInt(NOW));
});

Deno.test("handlers - broadcast is handed to the hub once, with no reply", () => {
  const context = new FakeContext({ nickname: "bob" });
  handleClientMessage(context, chat("to all", Action.BROADCAST, 2n ** 64n - 1n));
  assert.equal(context.replies.length, 0);
  assert.equal(context.broadcasts.length, 1);
  const body = context.broadcasts[0].body;
  assert.equal(body.case, "chat");
  assert.equal(body.value.action, Action.BROADCAST);
  assert.equal(body.value.content, "to all");
  assert.equal(body.value.clientSeq, 2n ** 64n - 1n);
  assert.equal(body.value.fromSessionId, 7n);
  assert.equal(body.value.fromNickname, "bob");
  assert.equal(body.value.sentAtUnixMs, BigInt(NOW));
});

Deno.test("handlers - empty content is relayed", () => {
  const context = new FakeContext();
  handleClientMessage(context, chat("", Action.ECHO));
  assert.equal(context.replies[0].body.case, "chat");
  assert.equal(context.replies[0].body.value?.$typeName, "chat.v1.ChatEvent");
});

Deno.test("handlers - content over maxContentBytes, counted in UTF-8 bytes, is CONTENT_TOO_LONG", () => {
  for (const action of [Action.ECHO, Action.BROADCAST]) {
    const context = new FakeContext();
    handleClientMessage(context, chat("é".repeat(2049), action, 99n));
    const error = context.onlyError();
    assert.equal(error.code, ErrorCode.CONTENT_TOO_LONG);
    assert.equal(error.message, "Message is 4098 bytes long; the limit is 4096");
    assert.equal(error.clientSeq, 99n);
    assert.equal(error.fatal, false);
  }
});

Deno.test("handlers - content of exactly maxContentBytes is accepted", () => {
  for (const content of ["é".repeat(2048), "a".repeat(4096), "😀".repeat(1024)]) {
    const context = new FakeContext();
    handleClientMessage(context, chat(content, Action.ECHO));
    assert.equal(context.replies.length, 1);
    assert.equal(context.replies[0].body.case, "chat");
    assert.equal(context.replies[0].body.value?.$typeName, "chat.v1.ChatEvent");
  }
  const context = new FakeContext({ maxContentBytes: 3 });
  handleClientMessage(context, chat("€", Action.BROADCAST));
  assert.equal(context.broadcasts.length, 1);
  handleClientMessage(context, chat("€a", Action.BROADCAST, 5n));
  assert.equal(context.broadcasts.length, 1);
  assert.equal(context.replies[0].body.case, "error");
});

Deno.test("handlers - an unknown chat action is UNSUPPORTED with its clientSeq", () => {
  const context = new FakeContext();
  handleClientMessage(context, chat("x", 7 as Action, 12n));
  const error = context.onlyError();
  assert.equal(error.code, ErrorCode.UNSUPPORTED);
  assert.equal(error.message, "Unknown chat action 7");
  assert.equal(error.clientSeq, 12n);
  assert.equal(error.fatal, false);
});

Deno.test("handlers - a message with no body is UNSUPPORTED", () => {
  const context = new FakeContext();
  handleClientMessage(context, message({}));
  const error = context.onlyError();
  assert.equal(error.code, ErrorCode.UNSUPPORTED);
  assert.equal(error.fatal, false);
  assert.equal(error.clientSeq, 0n);
});

Deno.test("handlers - ping gets a pong with the same nonce", () => {
  const context = new FakeContext();
  const nonce = 0x1234_5678_9abc_def0n;
  handleClientMessage(context, message({ body: { case: "ping", value: { nonce } } }));
  assert.equal(context.replies.length, 1);
  const body = context.replies[0].body;
  assert.equal(body.case, "pong");
  assert.equal(body.value.nonce, nonce);
});

Deno.test("handlers - who replies with the users from the context", () => {
  const context = new FakeContext();
  context.users = [{ sessionId: 1n, nickname: "alice" }, { sessionId: 9n, nickname: "김철수" }];
  handleClientMessage(context, message({ body: { case: "who", value: {} } }));
  assert.equal(context.replies.length, 1);
  const body = context.replies[0].body;
  assert.equal(body.case, "who");
  assert.deepEqual(
    body.value.users.map(({ sessionId, nickname }) => ({ sessionId, nickname })),
    context.users,
  );
});

Deno.test("handlers - hello with a valid nickname renames, with no reply", async () => {
  const context = new FakeContext({ nickname: "guest-7" });
  await handleClientMessage(context, hello("bob", "cli/1.0"));
  assert.deepEqual(context.renames, ["bob"]);
  assert.deepEqual(context.clientNames, ["cli/1.0"]);
  assert.equal(context.replies.length, 0);
  assert.equal(context.broadcasts.length, 0);
});

Deno.test("handlers - hello while the cluster is out of reach is UNAVAILABLE, after the claim", async () => {
  const context = new FakeContext();
  context.renameResult = Promise.resolve("unavailable");
  const handled = handleClientMessage(context, hello("bob"));
  assert.ok(handled instanceof Promise, "the handler waits for the claim");
  assert.deepEqual(context.replies, []);
  await handled;
  const error = context.onlyError();
  assert.equal(error.code, ErrorCode.UNAVAILABLE);
  assert.equal(error.fatal, false);
});

Deno.test("handlers - hello with an invalid nickname is NICKNAME_INVALID and does not rename", () => {
  for (const nickname of ["a b", "x".repeat(33), "guest-8", "😀"]) {
    const context = new FakeContext({ nickname: "guest-7" });
    handleClientMessage(context, hello(nickname));
    const error = context.onlyError();
    assert.equal(error.code, ErrorCode.NICKNAME_INVALID, nickname);
    assert.equal(error.fatal, false);
    assert.deepEqual(context.renames, []);
  }
});

Deno.test("handlers - hello with a taken nickname is NICKNAME_TAKEN", async () => {
  const context = new FakeContext();
  context.renameResult = "taken";
  await handleClientMessage(context, hello("bob"));
  assert.deepEqual(context.renames, ["bob"]);
  const error = context.onlyError();
  assert.equal(error.code, ErrorCode.NICKNAME_TAKEN);
  assert.equal(error.message, 'Nickname "bob" is already taken');
  assert.equal(error.fatal, false);
});

Deno.test("handlers - hello with an empty nickname only sets the client name", () => {
  const context = new FakeContext();
  handleClientMessage(context, hello("", "deno-chat-client/0.1.0"));
  assert.deepEqual(context.clientNames, ["deno-chat-client/0.1.0"]);
  assert.deepEqual(context.renames, []);
  assert.equal(context.replies.length, 0);
  assert.equal(context.broadcasts.length, 0);
});

Deno.test("handlers - hello with an empty client does not set the client name", async () => {
  const context = new FakeContext();
  await handleClientMessage(context, hello("bob"));
  assert.deepEqual(context.clientNames, []);
  assert.deepEqual(context.renames, ["bob"]);
});

Deno.test("handleFrame - decodes and handles an encoded message", () => {
  const context = new FakeContext();
  handleFrame(
    context,
    encodeClientMessage({ body: { case: "chat", value: { content: "hey", clientSeq: 3n } } }),
  );
  assert.equal(context.replies.length, 1);
  const body = context.replies[0].body;
  assert.equal(body.case, "chat");
  // An unset action is ECHO.
  assert.equal(body.value.action, Action.ECHO);
  assert.equal(body.value.content, "hey");
  assert.equal(body.value.clientSeq, 3n);
});

Deno.test("handleFrame - a truncated message is MALFORMED, not fatal", () => {
  const context = new FakeContext();
  handleFrame(context, new Uint8Array([0x12, 0x09, 0x0a]));
  const error = context.onlyError();
  assert.equal(error.code, ErrorCode.MALFORMED);
  assert.equal(error.fatal, false);
  assert.match(error.message, /^Cannot decode ClientMessage: /);
});

Deno.test("handleFrame - invalid UTF-8 in content is MALFORMED", () => {
  const context = new FakeContext();
  handleFrame(context, new Uint8Array([0x12, 0x04, 0x0a, 0x02, 0xff, 0xfe]));
  const error = context.onlyError();
  assert.equal(error.code, ErrorCode.MALFORMED);
  assert.equal(error.fatal, false);
});

Deno.test("handleFrame - an unknown field is UNSUPPORTED", () => {
  const context = new FakeContext();
  handleFrame(context, new Uint8Array([0x7a, 0x00]));
  const error = context.onlyError();
  assert.equal(error.code, ErrorCode.UNSUPPORTED);
  assert.equal(error.fatal, false);
});

Deno.test("handleFrame - an empty payload is a message with no body: UNSUPPORTED", () => {
  const context = new FakeContext();
  handleFrame(context, new Uint8Array(0));
  assert.equal(context.onlyError().code, ErrorCode.UNSUPPORTED);
});

Deno.test("handlers - a chat over the rate limit is not relayed and gets RATE_LIMITED with its client_seq", () => {
  const context = new FakeContext();
  context.chatAllowed = false;
  handleClientMessage(
    context,
    create(ClientMessageSchema, {
      body: { case: "chat", value: { content: "flood", action: Action.BROADCAST, clientSeq: 12n } },
    }),
  );
  assert.equal(context.broadcasts.length, 0);
  assert.equal(context.replies.length, 1);
  const reply = context.replies[0];
  assert.ok(reply.body.case === "error");
  assert.equal(reply.body.value.code, ErrorCode.RATE_LIMITED);
  assert.equal(reply.body.value.clientSeq, 12n);
  assert.equal(reply.body.value.fatal, false);
});

Deno.test("handlers - a Hello.client over MAX_CLIENT_NAME_BYTES, counted in UTF-8 bytes, is MALFORMED and the whole Hello refused", () => {
  assert.equal(MAX_CLIENT_NAME_BYTES, 100);
  for (const client of ["c".repeat(101), "é".repeat(51), "c".repeat(65_000)]) {
    const context = new FakeContext();
    handleClientMessage(context, hello("bob", client));
    const error = context.onlyError();
    assert.equal(error.code, ErrorCode.MALFORMED);
    assert.equal(error.fatal, false);
    const bytes = new TextEncoder().encode(client).length;
    assert.equal(error.message, `Hello.client is ${bytes} bytes long; the limit is 100`);
    assert.deepEqual(context.clientNames, []);
    assert.deepEqual(context.renames, []);
  }
});

Deno.test("handlers - a Hello.client of exactly MAX_CLIENT_NAME_BYTES is kept", () => {
  for (const client of ["c".repeat(100), "é".repeat(50)]) {
    const context = new FakeContext();
    handleClientMessage(context, hello("", client));
    assert.deepEqual(context.replies, []);
    assert.deepEqual(context.clientNames, [client]);
  }
});

const PING: ClientMessageInit = { body: { case: "ping", value: { nonce: 5n } } };

Deno.test("handlers - with --require-account, a RegisterRequest is UNSUPPORTED: the operator makes the accounts", () => {
  const context = new FakeContext({ nickname: "mallory" });
  context.requireAccount = true;
  context.passwordsAccepted = true;
  handleClientMessage(
    context,
    message({ body: { case: "register", value: { password: "p4ssword!" } } }),
  );
  const error = context.onlyError();
  assert.equal(ErrorCode[error.code], "UNSUPPORTED");
  assert.match(error.message, /server accounts add NAME/);
});

Deno.test("decodeClientMessage - unknown fields are not kept, on the message or inside its body", () => {
  // Field 15, length-delimited, 60,000 bytes: what a client could make a server hold.
  const unknown = new Uint8Array([0x7a, ...[0xe0, 0xd4, 0x03], ...new Uint8Array(60_000)]);
  const wrap = (field: number, body: Uint8Array) => {
    const length = [];
    for (let value = body.length;; value >>>= 7) {
      if (value < 0x80) {
        length.push(value);
        break;
      }
      length.push((value & 0x7f) | 0x80);
    }
    return new Uint8Array([(field << 3) | 2, ...length, ...body]);
  };
  const inner = (message: ClientMessageInit) => encodeClientMessage(message).subarray(2);
  const cases: [string, Uint8Array][] = [
    ["ping", wrap(3, new Uint8Array([...inner(PING), ...unknown]))],
    [
      "hello",
      wrap(
        1,
        new Uint8Array([
          ...inner({ body: { case: "hello", value: { client: "x" } } }),
          ...unknown,
        ]),
      ),
    ],
    [
      "chat",
      wrap(
        2,
        new Uint8Array([
          ...inner({ body: { case: "chat", value: { content: "hi", clientSeq: 1n } } }),
          ...unknown,
        ]),
      ),
    ],
    ["message", new Uint8Array([...encodeClientMessage(PING), ...unknown])],
  ];
  for (const [what, payload] of cases) {
    const message = decodeClientMessage(payload);
    assert.equal(message.body.case, what === "message" ? "ping" : what, what);
    // assert.ok, not equal: a diff of 60,000 bytes takes node:assert minutes to print.
    const body = message.body.value as { $unknown?: unknown[] };
    assert.ok(message.$unknown === undefined, `${what}: unknown fields kept on the message`);
    assert.ok(body.$unknown === undefined, `${what}: unknown fields kept on the body`);
  }
});
