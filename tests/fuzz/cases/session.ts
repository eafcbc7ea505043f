import assert from "node:assert/strict";
import type { ServerMessage } from "../../../gen/chat/v1/chat_pb.ts";
import { hex } from "../describe.ts";
import { type FuzzAddress, FuzzConn, type Handshake } from "../fuzz_conn.ts";
import { MAX_CONTENT, MAX_FRAME } from "../fuzz_settings.ts";
import type { GenContext } from "../modelled_frames.ts";
import { type BroadcastRegistry, checkConnection, type ReplyState } from "../replies.ts";
import type { Rng } from "../rng.ts";
import type { Stats } from "../stats.ts";

/** One fuzz case: its connection(s), and what it did, for the report when it fails. */
export interface CaseInfo {
  index: number;
  seed: number;
  kind: string;
  notes: string[];
  writes: Uint8Array[];
  /** Every connection it opened, closed after it whatever happened. */
  conns: FuzzConn[];
  /** The ones that got a Welcome: their messages are checked once more after it. */
  sessions: Session[];
}

/** What a case needs from the run. */
export interface CaseEnv {
  /** Where this case connects. */
  address: FuzzAddress;
  stats: Stats;
  registry: BroadcastRegistry;
  wellBehaved: readonly { id: bigint; nickname: string }[];
}

export type CaseRunner = (env: CaseEnv, info: CaseInfo, rng: Rng) => Promise<void>;

export function describeCase(info: CaseInfo): string {
  const writes = info.writes.slice(0, 6).map((w, i) => `  write ${i}: ${hex(w)}`).join("\n");
  return `case #${info.index} kind=${info.kind} case-seed=${info.seed}\n  ${
    info.notes.join("\n  ")
  }\n${writes}` +
    (info.writes.length > 6 ? `\n  ... ${info.writes.length} writes` : "");
}

/** Opens a connection for the case and records it, so that it is closed after the case. */
export async function openConn(
  env: CaseEnv,
  info: CaseInfo,
  handshake?: Handshake,
): Promise<FuzzConn> {
  const conn = await FuzzConn.open(env.address, env.stats, handshake);
  info.conns.push(conn);
  if (handshake !== undefined) info.writes.push(handshake.request);
  return conn;
}

/** A fuzz connection that got its Welcome, and what its frames are generated and checked with. */
export class Session {
  readonly conn: FuzzConn;
  readonly me: bigint;
  readonly state: ReplyState;
  readonly ctx: GenContext;
  readonly #info: CaseInfo;
  readonly #wellBehavedIds: readonly bigint[];

  private constructor(conn: FuzzConn, me: bigint, env: CaseEnv, info: CaseInfo, rng: Rng) {
    this.conn = conn;
    this.me = me;
    this.#info = info;
    this.#wellBehavedIds = env.wellBehaved.map((w) => w.id);
    const nickname = `guest-${me}`;
    this.state = {
      me,
      nickname,
      wellBehaved: env.wellBehaved,
      registry: undefined,
      stats: env.stats,
    };
    this.ctx = {
      rng,
      me,
      nickname,
      formerNicknames: [],
      token: Array.from({ length: 8 }, () => rng.pick([..."abcdefghijklmnopqrstuvwxyz0123456789"]))
        .join(""),
      names: 0,
    };
  }

  /** Connects and checks the Welcome. */
  static async open(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<Session> {
    const conn = await openConn(env, info);
    await conn.until(() => conn.messages.length > 0, "the Welcome");
    const first = conn.messages[0].body;
    assert.equal(first.case, "welcome", "the first message");
    const welcome = first.value;
    assert.equal(welcome.nickname, `guest-${welcome.sessionId}`);
    assert.equal(welcome.maxFrameBytes, MAX_FRAME);
    assert.equal(welcome.maxContentBytes, MAX_CONTENT);
    info.notes.push(
      `session ${welcome.sessionId}${env.address.websocket ? " over WebSocket" : ""}`,
    );
    const session = new Session(conn, welcome.sessionId, env, info, rng);
    info.sessions.push(session);
    return session;
  }

  /** Writes and records the bytes. */
  async send(bytes: number[] | Uint8Array, frames: number, mayFail = false): Promise<void> {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    this.#info.writes.push(data);
    if (mayFail) await this.conn.writeMayFail(data, frames);
    else await this.conn.write(data, frames);
  }

  /** Checks every message so far by the rules for any connection; returns its own replies. */
  ownReplies(): ServerMessage[] {
    return checkConnection(this.conn, this.me, this.#wellBehavedIds);
  }

  /** Waits for the server to close, and checks it closed rather than reset. */
  async closedCleanly(what = "the server to close the connection"): Promise<void> {
    await this.conn.closed(what);
    assert.ok(!this.conn.reset, "the server reset the connection instead of closing it");
  }
}
