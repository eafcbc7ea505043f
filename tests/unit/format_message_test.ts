import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  AccountChange,
  Action,
  ChatEventSchema,
  ErrorCode,
  PresenceKind,
  type ServerMessage,
  ServerMessageSchema,
} from "../../gen/chat/v1/chat_pb.ts";
import type { ServerMessageInit } from "../../lib/protocol/codec.ts";
import {
  formatChatEvent,
  formatGap,
  formatServerMessage,
  formatTime,
} from "../../lib/ui/format_message.ts";
import { createStyle } from "../../lib/ui/style.ts";

const plain = createStyle(false);
const colour = createStyle(true);
const message = (init: ServerMessageInit): ServerMessage => create(ServerMessageSchema, init);
const format = (init: ServerMessageInit, own?: bigint) =>
  formatServerMessage(message(init), own, plain);
/** A fixed local time, so that the tests pass in any time zone. */
const at = (day: number, hours: number, minutes: number) =>
  new Date(2026, 11, day, hours, minutes, 30);

Deno.test("formatChatEvent - lobby lines are as before rooms; other rooms are named after the action", () => {
  const event = create(ChatEventSchema, {
    action: Action.BROADCAST,
    fromNickname: "alice",
    content: "hi",
  });
  assert.equal(formatChatEvent(event, 1n, plain), "(broadcast) alice: hi");
  assert.equal(formatChatEvent({ ...event, room: "#lobby" }, 1n, plain), "(broadcast) alice: hi");
  assert.equal(
    formatChatEvent({ ...event, room: "#dev" }, 1n, plain),
    "(broadcast) [#dev] alice: hi",
  );
  assert.equal(
    formatChatEvent({ ...event, action: Action.ECHO, room: "#dev" }, 1n, plain),
    "(echo) hi",
  );
});

Deno.test("formatChatEvent - a private message reads differently for its sender and its recipient", () => {
  const sent = create(ChatEventSchema, {
    action: Action.PRIVATE,
    fromSessionId: 1n,
    fromNickname: "alice",
    toNickname: "bob",
    content: "psst",
  });
  assert.equal(formatChatEvent(sent, 1n, plain), "(private to bob) psst");
  assert.equal(formatChatEvent({ ...sent, toNickname: "" }, 2n, plain), "(private) alice: psst");
  assert.equal(formatChatEvent(sent, 2n, plain), "(private) alice: psst");
  assert.equal(formatChatEvent(sent, 1n, colour), "\x1b[35m(private to bob) psst\x1b[0m");
});

Deno.test("formatChatEvent - a history line shows its time, and its date on another day, dimmed", () => {
  const sentAt = at(4, 14, 3);
  const event = create(ChatEventSchema, {
    action: Action.BROADCAST,
    fromNickname: "alice",
    content: "hi",
    room: "#dev",
    history: true,
    sentAtUnixMs: BigInt(sentAt.getTime()),
  });
  assert.equal(
    formatChatEvent(event, 1n, plain, { now: at(4, 23, 59) }),
    "[14:03] (broadcast) [#dev] alice: hi",
  );
  assert.equal(
    formatChatEvent(event, 1n, plain, { now: at(5, 0, 1) }),
    "[2026-12-04 14:03] (broadcast) [#dev] alice: hi",
  );
  assert.equal(
    formatChatEvent(event, 1n, colour, { now: at(4, 15, 0) }),
    "\x1b[2m\x1b[32m[14:03] (broadcast) [#dev] alice: hi\x1b[0m\x1b[0m",
  );
  assert.equal(formatTime(0n, new Date()), undefined);
  assert.equal(
    formatChatEvent({ ...event, sentAtUnixMs: 0n }, 1n, plain),
    "(broadcast) [#dev] alice: hi",
  );
});

Deno.test("formatChatEvent - room names and nicknames from the server are made printable", () => {
  const event = create(ChatEventSchema, {
    action: Action.BROADCAST,
    fromNickname: "eve\x1b[2J",
    content: "x",
    room: "#a\nb",
  });
  assert.equal(formatChatEvent(event, 1n, plain), "(broadcast) [#a\u240ab] eve\u241b[2J: x");
});

Deno.test("formatServerMessage - presence names its room outside the lobby", () => {
  const presence = { kind: PresenceKind.JOINED, nickname: "bob", online: 3, sessionId: 2n };
  assert.equal(
    format({ body: { case: "presence", value: presence } }),
    "* bob joined (3 online)",
  );
  assert.equal(
    format({ body: { case: "presence", value: { ...presence, room: "#dev" } } }),
    "* bob joined #dev",
  );
  assert.equal(
    format({
      body: { case: "presence", value: { ...presence, kind: PresenceKind.LEFT, room: "#lobby" } },
    }),
    "* bob left (3 online)",
  );
  assert.equal(
    format({
      body: { case: "presence", value: { ...presence, kind: PresenceKind.LEFT, room: "#dev" } },
    }),
    "* bob left #dev",
  );
});

Deno.test("formatServerMessage - who, rooms, joins, parts and history ends", () => {
  const users = [{ sessionId: 1n, nickname: "alice" }, { sessionId: 2n, nickname: "bob" }];
  assert.equal(
    format({ body: { case: "who", value: { users } } }, 1n),
    "* 2 online: alice (you), bob",
  );
  assert.equal(
    format({ body: { case: "who", value: { users, room: "#lobby" } } }, 1n),
    "* 2 online: alice (you), bob",
  );
  assert.equal(
    format({ body: { case: "who", value: { users: [], room: "#nosuch" } } }, 1n),
    "* nobody is in #nosuch",
  );
  assert.equal(
    format({ body: { case: "who", value: { users, room: "#dev" } } }, 2n),
    "* 2 in #dev: alice, bob (you)",
  );
  assert.equal(
    format({
      body: {
        case: "rooms",
        value: {
          rooms: [{ name: "#lobby", members: 12 }, { name: "#dev", members: 3 }, { name: "#old" }],
        },
      },
    }),
    "* 3 rooms: #lobby (12), #dev (3), #old (0)",
  );
  assert.equal(
    format({
      body: { case: "rooms", value: { rooms: [{ name: "#lobby", members: 9 }], truncated: true } },
    }),
    "* the 1 largest rooms: #lobby (9)",
  );
  assert.equal(format({ body: { case: "rooms", value: {} } }), "* no rooms");
  assert.equal(
    format({ body: { case: "joined", value: { room: "#dev", members: 1 } } }),
    "* joined #dev (1 member)",
  );
  assert.equal(
    format({ body: { case: "joined", value: { room: "#dev", members: 4, moreHistory: true } } }),
    "* joined #dev (4 members); /history shows earlier messages",
  );
  assert.equal(
    format({
      body: { case: "joined", value: { room: "#dev", members: 4, historyUnavailable: true } },
    }),
    "* joined #dev (4 members); its history cannot be read now",
  );
  assert.equal(format({ body: { case: "parted", value: { room: "#dev" } } }), "* left #dev");
  assert.equal(
    format({ body: { case: "historyEnd", value: { room: "#dev", count: 20, more: true } } }),
    "* 20 earlier messages of #dev above; /history shows more",
  );
  assert.equal(
    format({ body: { case: "historyEnd", value: { room: "#dev", count: 1 } } }),
    "* 1 earlier message of #dev above; nothing older is kept",
  );
  assert.equal(
    format({ body: { case: "historyEnd", value: { room: "#dev" } } }),
    "* no earlier messages in #dev",
  );
  assert.equal(
    format({ body: { case: "historyEnd", value: { room: "#dev", unavailable: true } } }),
    "! the history of #dev cannot be read now",
  );
});

Deno.test("formatGap - names the room and the count", () => {
  assert.equal(
    formatGap("#dev", 12n, plain),
    "! 12 messages in #dev were missed while you were away and are no longer kept",
  );
  assert.equal(
    formatGap("#lobby", 1n, plain),
    "! 1 message in #lobby was missed while you were away and is no longer kept",
  );
});

Deno.test("formatServerMessage - account changes in plain words, each client naming its own way to identify", () => {
  const account = (change: AccountChange) => ({
    body: { case: "account" as const, value: { change, nickname: "alice" } },
  });
  assert.equal(format(account(AccountChange.IDENTIFIED)), "* you are identified as alice");
  assert.equal(
    format(account(AccountChange.REGISTERED)),
    "* alice is registered; use --password-file or /identify to take it next time",
  );
  assert.equal(
    formatServerMessage(message(account(AccountChange.REGISTERED)), 1n, plain, { surface: "page" }),
    "* alice is registered; log in with its password to take it next time",
  );
  assert.equal(
    format(account(AccountChange.PASSWORD_CHANGED)),
    "* the password of alice is changed",
  );
  assert.equal(
    format(account(AccountChange.UNREGISTERED)),
    "* alice is no longer registered; anyone may take it",
  );
});

Deno.test("formatServerMessage - account errors say what to do next", () => {
  const error = (code: ErrorCode, text: string) => ({
    body: { case: "error" as const, value: { code, message: text } },
  });
  assert.equal(
    format(error(ErrorCode.NICKNAME_REGISTERED, 'Nickname "alice" is registered')),
    '! Nickname "alice" is registered - if it is yours, /identify NAME PASSWORD takes it',
  );
  // The server's words say it already: no hint doubles them.
  assert.equal(
    format(error(ErrorCode.AUTH_REQUIRED, "Only registered users may use this server")),
    "! Only registered users may use this server",
  );
  assert.match(format(error(ErrorCode.NOT_IDENTIFIED, "Not identified"))!, /\/register PASSWORD/);
  assert.match(format(error(ErrorCode.PASSWORD_NOT_ENCRYPTED, "Not encrypted"))!, /--tls/);
  assert.match(format(error(ErrorCode.AUTH_FAILED, "Wrong password"))!, /^! Wrong password - /);
  assert.equal(format(error(ErrorCode.NICKNAME_TAKEN, "Taken")), "! Taken");
});

Deno.test("formatServerMessage - a wrong password from a file names it; a lock or a refused new password gets no hint", () => {
  const error = (text: string) => ({
    body: { case: "error" as const, value: { code: ErrorCode.AUTH_FAILED, message: text } },
  });
  assert.equal(
    formatServerMessage(message(error('Wrong password for "alice"')), 1n, plain, {
      passwordFile: "pw.txt",
    }),
    '! Wrong password for "alice" - check the password in pw.txt',
  );
  assert.equal(
    format(error('Too many failed logins for "alice"; try again in 52 s')),
    '! Too many failed logins for "alice"; try again in 52 s',
  );
  assert.equal(
    format(error("Cannot change the password: the password is 5 bytes long")),
    "! Cannot change the password: the password is 5 bytes long",
  );
});
