import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { describeMessage, same, shorten } from "./describe.ts";
import type { FuzzConn } from "./fuzz_conn.ts";
import { ALLOWED_FRAME_ERRORS, FATAL_CODES, MAX_CONTENT } from "./fuzz_settings.ts";
import type { Expect } from "./modelled_frames.ts";
import { utf8Length } from "./protobuf_wire.ts";
import type { Stats } from "./stats.ts";

/** Broadcasts the fuzz sessions saw come back to them: each must reach every well-behaved client. */
export type BroadcastRegistry = Map<string, number>;

export function broadcastKey(
  event: { fromSessionId: bigint; clientSeq: bigint; sentAtUnixMs: bigint; content: string },
): string {
  return `${event.fromSessionId}|${event.clientSeq}|${event.sentAtUnixMs}|${
    JSON.stringify(event.content)
  }`;
}

/** A reply to this session's own frames (as opposed to others' broadcasts and presence). */
export function isOwn(message: ServerMessage, me: bigint): boolean {
  const body = message.body;
  switch (body.case) {
    case "error":
    case "pong":
    case "who":
    case "rooms":
    case "joined":
    case "parted":
    case "historyEnd":
      return true;
    case "chat":
      return body.value.fromSessionId === me;
    case "presence":
      return body.value.kind === PresenceKind.RENAMED && body.value.sessionId === me;
    default:
      return false;
  }
}

/**
 * Rules for every message on a fuzz connection: a Welcome first and only first, only
 * broadcasts from others, no presence about itself but renames, errors flagged fatal
 * exactly when their code is (over WebSocket MALFORMED is fatal too, for a text
 * message), nothing after a fatal one. Returns its own replies.
 */
export function checkConnection(
  conn: FuzzConn,
  me: bigint,
  wellBehaved: readonly bigint[],
): ServerMessage[] {
  same(conn.problems, [], "the server sent what it should not have");
  const own: ServerMessage[] = [];
  conn.messages.forEach((message, index) => {
    const body = message.body;
    const where = `message ${index} (${describeMessage(message)})`;
    if (index === 0) {
      assert.equal(body.case, "welcome", `${where}: the first message must be Welcome`);
      return;
    }
    assert.notEqual(body.case, "welcome", `${where}: a second Welcome`);
    assert.notEqual(body.case, undefined, `${where}: a ServerMessage without a body`);
    if (body.case === "error") {
      const fatal = FATAL_CODES.has(body.value.code) ||
        (conn.websocket && body.value.code === ErrorCode.MALFORMED && body.value.fatal);
      assert.equal(body.value.fatal, fatal, `${where}: fatal flag`);
      if (body.value.fatal) {
        assert.equal(index, conn.messages.length - 1, `${where}: messages after a fatal error`);
      }
    }
    if (body.case === "chat" && body.value.fromSessionId !== me) {
      assert.notEqual(body.value.action, Action.ECHO, `${where}: another session's echo`);
    }
    if (body.case === "presence") {
      assert.ok(
        body.value.sessionId !== me || body.value.kind === PresenceKind.RENAMED,
        `${where}: presence about this session`,
      );
      if (body.value.kind === PresenceKind.LEFT) {
        assert.ok(
          !wellBehaved.includes(body.value.sessionId),
          `${where}: a well-behaved client left`,
        );
      }
    }
    if (isOwn(message, me)) own.push(message);
  });
  return own;
}

/** What a session knows about itself while its replies are checked in order. */
export interface ReplyState {
  me: bigint;
  nickname: string;
  wellBehaved: readonly { id: bigint; nickname: string }[];
  registry: BroadcastRegistry | undefined;
  stats: Stats;
}

function recordOwnBroadcast(message: ServerMessage, state: ReplyState): void {
  if (message.body.case === "chat" && message.body.value.action === Action.BROADCAST) {
    state.stats.ownBroadcasts++;
    if (state.registry !== undefined) {
      const key = broadcastKey(message.body.value);
      state.registry.set(key, (state.registry.get(key) ?? 0) + 1);
    }
  }
}

/** Checks one reply that any frame may get, and follows renames. */
export function checkAnyReply(message: ServerMessage, state: ReplyState): void {
  const body = message.body;
  const what = describeMessage(message);
  switch (body.case) {
    case "error":
      assert.ok(ALLOWED_FRAME_ERRORS.has(body.value.code), `an error a frame may not get: ${what}`);
      assert.equal(body.value.fatal, false, what);
      return;
    case "chat":
      assert.ok(
        body.value.action === Action.ECHO || body.value.action === Action.BROADCAST ||
          body.value.action === Action.PRIVATE,
        `a chat with an unknown action was relayed: ${what}`,
      );
      assert.ok(
        utf8Length(body.value.content) <= MAX_CONTENT,
        `content over the limit was relayed: ${what}`,
      );
      assert.equal(body.value.fromNickname, state.nickname, `${what}: from_nickname`);
      // A private message's copy is no broadcast: only the sender and its recipient see it.
      if (body.value.action !== Action.PRIVATE) recordOwnBroadcast(message, state);
      return;
    // A mutated frame that became a rooms request; a join, part or history request needs a
    // room name, which random bytes do not spell.
    case "rooms":
      return;
    case "presence": {
      const { nickname, previousNickname } = body.value;
      assert.equal(previousNickname, state.nickname, `${what}: previous_nickname`);
      assert.ok(nickname !== "" && [...nickname].length <= 32, `${what}: a nickname out of bounds`);
      assert.equal(nickname, nickname.normalize("NFC"), `${what}: a nickname not in NFC`);
      assert.ok(
        !state.wellBehaved.some((w) => w.nickname === nickname.toLowerCase()),
        `${what}: a well-behaved client's nickname was taken`,
      );
      state.nickname = nickname;
      return;
    }
    case "who":
      checkWho(message, state);
      return;
    case "pong":
      return;
    default:
      assert.fail(`an unexpected reply: ${what}`);
  }
}

function checkWho(message: ServerMessage, state: ReplyState): void {
  assert.equal(message.body.case, "who");
  const users = message.body.value.users.map((u) => `${u.sessionId}:${u.nickname}`);
  for (const user of [{ id: state.me, nickname: state.nickname }, ...state.wellBehaved]) {
    assert.ok(
      users.includes(`${user.id}:${user.nickname}`),
      `who lacks ${user.id}:${user.nickname}: ${users}`,
    );
  }
}

/** Checks the replies to one frame (none or one) against what the protocol says. */
export function checkReplies(expect: Expect, replies: ServerMessage[], state: ReplyState): void {
  const what = `expected ${
    JSON.stringify(
      expect.kind === "error"
        ? { ...expect, codes: expect.codes.map((c) => ErrorCode[c]) }
        : expect,
      (_k, v) => typeof v === "bigint" ? `${v}` : shorten(v),
    )
  }, got [${replies.map(describeMessage).join(", ")}]`;
  if (expect.kind === "any") {
    assert.ok(replies.length <= 1, `more than one reply to one frame: ${what}`);
    for (const reply of replies) checkAnyReply(reply, state);
    return;
  }
  if (expect.kind === "none") {
    assert.equal(replies.length, 0, what);
    return;
  }
  assert.equal(replies.length, 1, what);
  const body = replies[0].body;
  switch (expect.kind) {
    case "pong":
      assert.ok(body.case === "pong" && body.value.nonce === expect.nonce, what);
      return;
    case "who":
      assert.equal(body.case, "who", what);
      checkWho(replies[0], state);
      return;
    case "chat":
      assert.ok(body.case === "chat", what);
      assert.equal(body.value.action, expect.action, what);
      assert.equal(body.value.content, expect.content, `content not passed on exactly: ${what}`);
      assert.equal(body.value.clientSeq, expect.clientSeq, what);
      assert.equal(body.value.fromNickname, state.nickname, what);
      recordOwnBroadcast(replies[0], state);
      return;
    case "renamed":
      assert.ok(body.case === "presence" && body.value.kind === PresenceKind.RENAMED, what);
      assert.equal(body.value.nickname, expect.nickname, what);
      assert.equal(body.value.previousNickname, state.nickname, what);
      state.nickname = expect.nickname;
      return;
    case "error":
      assert.ok(body.case === "error", what);
      assert.ok(expect.codes.includes(body.value.code), what);
      assert.equal(body.value.fatal, false, what);
      if (expect.clientSeq !== undefined) {
        assert.equal(body.value.clientSeq, expect.clientSeq, what);
      }
      return;
  }
}
