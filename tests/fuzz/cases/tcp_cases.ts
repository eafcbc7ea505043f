/** Cases of the TCP framing: random bytes, a frame that never completes, a length over the limit. */
import assert from "node:assert/strict";
import { ErrorCode } from "../../../gen/chat/v1/chat_pb.ts";
import { describeMessage, hex, same } from "../describe.ts";
import { MAX_FRAME } from "../fuzz_settings.ts";
import { paddedVarint, pingPayload, varint } from "../protobuf_wire.ts";
import { checkAnyReply } from "../replies.ts";
import type { Rng } from "../rng.ts";
import { type CaseEnv, type CaseInfo, Session } from "./session.ts";

/** Nonces of valid pings sent ahead of the case's broken bytes. */
function pingNonces(rng: Rng): bigint[] {
  return Array.from({ length: rng.int(0, 2) }, (_, i) => (1n << 60n) + BigInt(i));
}

/** Anything goes, as long as what comes back is well-formed and the server ends the connection after our FIN. */
export async function randomCase(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> {
  const session = await Session.open(env, info, rng);
  const bytes = new Uint8Array(rng.bytes(rng.int(1, 8000)));
  const halfClose = rng.bool(0.6);
  info.notes.push(`${bytes.length} random bytes, then ${halfClose ? "FIN and wait" : "close"}`);
  for (const piece of rng.chunks(bytes, rng.int(1, 3))) await session.send(piece, 0, true);
  if (halfClose) {
    await session.conn.closeWrite();
    await session.closedCleanly();
  }
  for (const reply of session.ownReplies()) {
    if (reply.body.case === "error" && reply.body.value.code === ErrorCode.FRAME_TOO_LARGE) {
      continue;
    }
    checkAnyReply(reply, session.state);
  }
}

/** Valid pings, then a frame that never completes: the pongs, then a close after our FIN. */
export async function truncatedCase(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> {
  const session = await Session.open(env, info, rng);
  const nonces = pingNonces(rng);
  const partial = rng.bool(0.7)
    ? Array.from({ length: rng.int(1, 4) }, () => 0x80 | rng.int(0, 0x7f))
    : (() => {
      const payload = pingPayload(5n);
      return [...varint(payload.length), ...payload].slice(0, rng.int(1, payload.length));
    })();
  // The lowest value the unfinished prefix can still take: over the limit may be refused early.
  const lowest = partial.every((b) => b & 0x80)
    ? partial.reduce((sum, b, i) => sum + (b & 0x7f) * 2 ** (7 * i), 0)
    : 0;
  const halfClose = rng.bool(0.7);
  info.notes.push(
    `pings ${nonces}, then ${hex(partial)}, then ${halfClose ? "FIN and wait" : "close"}`,
  );
  const pings = session.conn.encode(rng, nonces.map(pingPayload));
  const bytes = new Uint8Array([...pings, ...partial]);
  for (const piece of rng.chunks(bytes, rng.int(1, 3))) await session.send(piece, 0, true);
  env.stats.frames += nonces.length;
  if (!halfClose) return;
  await session.conn.closeWrite();
  await session.closedCleanly();
  const own = session.ownReplies();
  const pongs = own.flatMap((m) => m.body.case === "pong" ? [m.body.value.nonce] : []);
  same(pongs, nonces, "the pongs before the unfinished frame");
  const rest = own.filter((m) => m.body.case !== "pong");
  if (rest.length > 0) {
    assert.ok(lowest > MAX_FRAME, `unexpected replies: ${rest.map(describeMessage)}`);
    assert.equal(rest.length, 1);
    assert.ok(
      rest[0].body.case === "error" && rest[0].body.value.code === ErrorCode.FRAME_TOO_LARGE,
    );
  }
}

/** FRAME_TOO_LARGE, fatal, the last message, then the server closes. */
export async function oversizeCase(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> {
  const session = await Session.open(env, info, rng);
  const nonces = pingNonces(rng);
  let prefix: number[];
  let length: number | undefined;
  if (rng.bool(0.7)) {
    length = rng.weighted([
      [2, MAX_FRAME + 1],
      [3, rng.int(MAX_FRAME + 1, 100_000)],
      [2, rng.int(100_001, 2 ** 32)],
      [1, 2 ** 35 - 1],
    ]);
    const size = varint(length).length;
    prefix = paddedVarint(length, rng.bool(0.3) ? rng.int(size, 5) : size);
  } else {
    // Six bytes or more: every one of the first five has its continuation bit set.
    // Sometimes with a value that would fit (zero padding): the byte count alone is wrong.
    const low = rng.bool(0.4) ? () => 0 : () => rng.int(0, 0x7f);
    prefix = [
      ...Array.from({ length: 5 }, () => 0x80 | low()),
      ...Array.from({ length: rng.int(0, 5) }, () => 0x80 | low()),
      low(),
    ];
  }
  const junk = rng.bool(0.6) ? rng.bytes(rng.int(1, 2000)) : [];
  info.notes.push(
    `pings ${nonces}, then prefix ${hex(prefix)} (length ${
      length ?? "over 5 bytes"
    }), ${junk.length} junk bytes`,
  );
  const pings = session.conn.encode(rng, nonces.map(pingPayload));
  const bytes = new Uint8Array([...pings, ...prefix]);
  for (const piece of rng.chunks(bytes, rng.int(1, 3))) await session.send(piece, 0, true);
  env.stats.frames += nonces.length;
  if (junk.length > 0) await session.send(junk, 0, true);
  const conn = session.conn;
  await conn.until(() => conn.messages.some((m) => m.body.case === "error"), "FRAME_TOO_LARGE");
  await conn.closed();
  const own = session.ownReplies();
  same(
    own.map(describeMessage),
    [...nonces.map((n) => `pong ${n}`), "error FRAME_TOO_LARGE fatal seq=0"],
    "the replies to pings and an oversize frame",
  );
  const error = own[own.length - 1].body.value as { message: string };
  if (length !== undefined) {
    assert.ok(
      error.message.includes(String(length)),
      `the error names the length: ${error.message}`,
    );
  }
  assert.equal(conn.messages.at(-1), own.at(-1), "FRAME_TOO_LARGE is the last message");
}
