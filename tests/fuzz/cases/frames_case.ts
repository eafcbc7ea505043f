/**
 * Frames whose replies are modelled, mutated or pure soup, on either transport: each
 * frame's reply is checked against the protocol, told apart by a ping after it.
 */
import assert from "node:assert/strict";
import type { ServerMessage } from "../../../gen/chat/v1/chat_pb.ts";
import { describeMessage, hex, same } from "../describe.ts";
import { fuzzedFrame } from "../fuzzed_frames.ts";
import { type Frame, modelledFrame } from "../modelled_frames.ts";
import { pingPayload } from "../protobuf_wire.ts";
import { checkAnyReply, checkReplies } from "../replies.ts";
import type { Rng } from "../rng.ts";
import { type CaseEnv, type CaseInfo, Session } from "./session.ts";

/** Frames in a few writes, or (`split`) in writes of 1 to 3 bytes. */
export function framesCase(split: boolean) {
  return async (env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> => {
    const session = await Session.open(env, info, rng);
    const conn = session.conn;
    const count = split
      ? rng.int(1, 3)
      : rng.weighted([[4, rng.int(1, 4)], [2, rng.int(5, 12)], [1, rng.int(13, 30)]]);
    const modelledShare = rng.pick([0, 0.5, 0.8, 1]);
    const frames: Frame[] = [];
    for (let i = 0; i < count; i++) {
      const next = rng.bool(modelledShare) ? modelledFrame(session.ctx) : fuzzedFrame(session.ctx);
      if (next.expect.kind === "any") env.stats.fuzzed++;
      else env.stats.modelled++;
      frames.push(next);
    }
    // With a ping after every frame, each frame's replies are told apart.
    const sentinels = rng.bool(0.6);
    const sentinel = (i: number) => (1n << 60n) | (BigInt(info.index) << 8n) | BigInt(i);
    const last = (1n << 61n) | BigInt(info.index);
    const payloads: number[][] = [];
    frames.forEach((f, i) => {
      payloads.push(f.payload);
      if (sentinels) payloads.push(pingPayload(sentinel(i)));
    });
    payloads.push(pingPayload(last));
    const bytes = conn.encode(rng, payloads);
    // Over TCP a FIN ends the session once its frames are answered; over WebSocket a
    // FIN without a Close is an abrupt end, and a Close is answered with a Close.
    const ending = rng.pick(
      conn.websocket
        ? ["close after pong", "Close after pong", "FIN after pong"]
        : ["FIN at once", "close after pong", "FIN after pong"],
    );
    info.notes.push(
      `${frames.length} frames${sentinels ? ", each followed by a ping" : ""}, ${ending}:`,
      ...frames.map((f, i) =>
        `frame ${i}: ${f.label} (${f.payload.length} bytes): ${hex(f.payload, 48)}`
      ),
    );
    const pieces = split
      ? (() => {
        const out: Uint8Array[] = [];
        for (let at = 0; at < bytes.length;) {
          const size = rng.int(1, 3);
          out.push(bytes.subarray(at, at + size));
          at += size;
        }
        return out;
      })()
      : rng.chunks(bytes, rng.weighted([[3, 1], [1, rng.int(2, 6)]]));
    for (let i = 0; i < pieces.length; i++) {
      await session.send(pieces[i], i === pieces.length - 1 ? payloads.length : 0);
    }
    if (ending === "FIN at once") await conn.closeWrite();
    // The last ping's pong proves every frame before it was handled.
    await conn.until(
      () => conn.messages.some((m) => m.body.case === "pong" && m.body.value.nonce === last),
      `the pong ${last}`,
    );
    await conn.pongsAnswered();
    if (ending === "FIN after pong") await conn.closeWrite();
    if (ending === "Close after pong") {
      await conn.sendClose(1000);
      await session.closedCleanly("the server's Close and the end of the connection");
      assert.equal(conn.closeFrame?.code, 1000, "the answer to a Close with 1000");
    } else if (ending !== "close after pong") {
      await session.closedCleanly("the server to close after our FIN");
    }
    checkFrameReplies(session, frames, sentinels ? sentinel : undefined, last, env);
  };
}

/** Each frame's replies by the model, between the pongs that bracket them. */
function checkFrameReplies(
  session: Session,
  frames: Frame[],
  sentinel: ((i: number) => bigint) | undefined,
  last: bigint,
  env: CaseEnv,
): void {
  const own = session.ownReplies();
  const state = session.state;
  state.registry = env.registry;
  const isPong = (m: ServerMessage, nonce: bigint) =>
    m.body.case === "pong" && m.body.value.nonce === nonce;
  let at = 0;
  const upTo = (nonce: bigint): ServerMessage[] => {
    const end = own.findIndex((m, i) => i >= at && isPong(m, nonce));
    assert.ok(end >= 0, `no pong ${nonce} in the replies`);
    const segment = own.slice(at, end);
    at = end + 1;
    return segment;
  };
  const check = (i: number, f: Frame, replies: ServerMessage[]) => {
    try {
      checkReplies(f.expect, replies, state);
    } catch (error) {
      throw new Error(`frame ${i} (${f.label}): ${(error as Error).message}`, { cause: error });
    }
  };
  if (sentinel !== undefined) {
    frames.forEach((f, i) => check(i, f, upTo(sentinel(i))));
    same(upTo(last), [], "replies after the last frame's ping");
  } else {
    const segment = upTo(last);
    if (frames.every((f) => f.expect.kind !== "any")) {
      for (const [i, f] of frames.entries()) {
        check(i, f, f.expect.kind === "none" ? [] : segment.splice(0, 1));
      }
      same(segment.map(describeMessage), [], "more replies than frames");
    } else {
      assert.ok(
        segment.length <= frames.length,
        `${segment.length} replies to ${frames.length} frames`,
      );
      for (const reply of segment) checkAnyReply(reply, state);
    }
  }
  same(own.slice(at).map(describeMessage), [], "replies after the last pong");
}
