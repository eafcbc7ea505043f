/**
 * Sequences of Hello and Chat against a server whose nickname claims are asynchronous
 * (--workers, --redis): each session renames among names of its own, back and forth,
 * and chats (echo and broadcast) in between, its frames coalesced into writes, split
 * across them, with small random pauses between the writes. Every reply must be the
 * one the protocol gives, with the exact content, in order; listeners must see every
 * broadcast and every rename exactly once, in each sender's order.
 */
import { Action, PresenceKind, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { type ClientMessageInit, encodeClientMessage } from "../../lib/protocol/codec.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { deadline } from "../support/deadline.ts";
import type { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { type CaseSlot, runCases } from "./case_loop.ts";
import { same, shorten } from "./describe.ts";
import { delay, type RunSettings, WAIT_MS } from "./fuzz_settings.ts";
import { isOwn } from "./replies.ts";
import { Rng } from "./rng.ts";

/** Sessions at once. */
const CONCURRENCY = 6;

/** Where sessions connect, and who listens. */
export interface SequenceTarget {
  name: string;
  servers: readonly ServerProcess[];
  /** Connected to the servers before the run, reading all along. */
  listeners: readonly TestClient[];
}

type Step =
  | { kind: "hello"; nickname: string; client: string }
  | { kind: "chat"; action: Action; content: string; seq: bigint };

/** A pause before a write: none, a turn of the event loop, or a timer. */
type Pause = "none" | "yield" | number;

interface Write {
  bytes: Uint8Array;
  pause: Pause;
  /** Which frames it holds (a range; a frame split across writes appears in each). */
  frames: string;
}

/** What a listener must see of one session: its renames and broadcasts, in order. */
interface Expected {
  sessionId: bigint;
  events: string[];
}

const NAME_BASES = ["sq", "Ünï", "日本", "e\u0301", "Ωμ", "_", "x.y"];
const FILLERS = ["A", "B", "z", "é", "日", "🙂", " ", "\u0301"];

function toggleAscii(rng: Rng, name: string): string {
  return [...name].map((c) => /[a-z]/i.test(c) && rng.bool() ? swapCase(c) : c).join("");
}

const swapCase = (c: string) => c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();

/** The rounds of one session: steps, and the model's replies to them. */
class SessionModel {
  nickname: string;
  readonly ownReplies: string[] = [];
  readonly forListeners: string[] = [];
  readonly #rng: Rng;
  readonly #names: string[];
  #seq = 0n;
  readonly #tag: string;

  constructor(rng: Rng, index: number, guest: string) {
    this.#rng = rng;
    this.nickname = guest;
    const token = Array.from({ length: 4 }, () => rng.pick([..."abcdefghijklmnopqrstuvwxyz"]))
      .join("");
    // Names of this session alone (the case index makes them unique in the run).
    this.#names = Array.from(
      { length: rng.int(2, 3) },
      (_, k) => `${rng.pick(NAME_BASES)}${index.toString(36)}${token}${k}`,
    );
    this.#tag = `c${index}`;
  }

  step(): Step {
    const rng = this.#rng;
    const choice = rng.weighted<string>([
      [4, "rename"],
      [1, "introduce"],
      [1, "same"],
      [4, "echo"],
      [3, "broadcast"],
    ]);
    const client = rng.bool(0.4) ? "" : "c".repeat(rng.int(1, 40));
    switch (choice) {
      case "rename":
      case "same": {
        const guest = this.nickname.startsWith("guest-");
        const nickname = choice === "same" && !guest
          ? this.nickname
          : toggleAscii(rng, rng.pick(this.#names));
        const nfc = nickname.normalize("NFC");
        this.ownReplies.push(`renamed ${nfc}`);
        // Confirmed to the session alone when nothing changes.
        if (nfc !== this.nickname) this.forListeners.push(`renamed ${nfc}`);
        this.nickname = nfc;
        return { kind: "hello", nickname, client };
      }
      case "introduce":
        return { kind: "hello", nickname: "", client: client || "introduce" };
      default: {
        const action = choice === "echo" ? Action.ECHO : Action.BROADCAST;
        const seq = ++this.#seq;
        const filler = rng.pick(FILLERS).repeat(rng.weighted([[3, rng.int(1, 40)], [1, 200]]));
        const content = `${this.#tag}.${seq}:${filler}`;
        const line = `chat ${Action[action]} ${this.nickname} ${seq} ${JSON.stringify(content)}`;
        this.ownReplies.push(line);
        if (action === Action.BROADCAST) this.forListeners.push(line);
        return { kind: "chat", action, content, seq };
      }
    }
  }
}

function describeStep(step: Step): string {
  return step.kind === "hello"
    ? `hello ${JSON.stringify(step.nickname)} client ${step.client.length}`
    : `chat ${Action[step.action]} seq=${step.seq} ${shorten(JSON.stringify(step.content), 40)}`;
}

function messageOf(step: Step): ClientMessageInit {
  return step.kind === "hello"
    ? { body: { case: "hello", value: { nickname: step.nickname, client: step.client } } }
    : {
      body: {
        case: "chat",
        value: { content: step.content, action: step.action, clientSeq: step.seq },
      },
    };
}

/** A session's own replies, and others' events about it, as the model writes them. */
function describeReply(message: ServerMessage): string {
  const body = message.body;
  switch (body.case) {
    case "chat":
      return `chat ${Action[body.value.action] ?? body.value.action} ${body.value.fromNickname} ` +
        `${body.value.clientSeq} ${JSON.stringify(body.value.content)}`;
    case "presence":
      return `${PresenceKind[body.value.kind]?.toLowerCase()} ${body.value.nickname}`;
    case "error":
      return `error ${body.value.code} ${body.value.fatal ? "fatal " : ""}${body.value.message}`;
    case "pong":
      return `pong ${body.value.nonce}`;
    default:
      return body.case ?? "empty";
  }
}

/** Cuts the round's frames into writes: mostly whole frames together, now and then one split. */
function writesOf(rng: Rng, frames: Uint8Array[]): Write[] {
  const together = rng.pick([0.2, 0.6, 0.9]);
  const pause = (): Pause =>
    rng.weighted<Pause>([[4, "none"], [3, "yield"], [2, 0], [1, 1], [1, rng.int(2, 4)]]);
  const writes: Write[] = [];
  let pending: number[] = [];
  let first = 0;
  const flush = (last: number) => {
    if (pending.length === 0) return;
    writes.push({ bytes: new Uint8Array(pending), pause: pause(), frames: `${first}-${last}` });
    pending = [];
    first = last;
  };
  frames.forEach((frame, i) => {
    if (i > 0 && !rng.bool(together)) {
      flush(i - 1);
      first = i;
    }
    if (rng.bool(0.1) && frame.length > 1) {
      const cut = rng.int(1, frame.length - 1);
      pending.push(...frame.subarray(0, cut));
      flush(i);
      pending.push(...frame.subarray(cut));
    } else pending.push(...frame);
  });
  flush(frames.length - 1);
  return writes;
}

async function pause(kind: Pause): Promise<void> {
  if (kind === "none") return;
  if (kind === "yield") await Promise.resolve();
  else await delay(kind);
}

/** Runs sessions for the run's time against `target`; throws with a replayable report. */
export async function fuzzSequences(
  target: SequenceTarget,
  settings: RunSettings,
): Promise<string> {
  const expected: Expected[] = [];
  const counts = { sessions: 0, rounds: 0, frames: 0, writes: 0 };
  const exited = new Set<number>();
  target.servers.forEach((server, i) => server.process.status.then(() => exited.add(i)));
  const cases = await runCases(
    settings,
    CONCURRENCY,
    (slot) => runSession(target, slot, expected, counts),
    () => exited.size > 0 ? "a server exited" : undefined,
  );
  if (exited.size > 0) throw new Error(`${target.name}: a server exited during the run`);

  // Every listener sees each session's renames and broadcasts exactly once, in order.
  for (const [l, listener] of target.listeners.entries()) {
    const events = new Map<bigint, string[]>();
    let read = 0;
    const eventsOf = (sessionId: bigint) => {
      for (; read < listener.received.length; read++) {
        const m = listener.received[read];
        const about = m.body.case === "chat"
          ? m.body.value.fromSessionId
          : m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED
          ? m.body.value.sessionId
          : undefined;
        if (about === undefined) continue;
        if (!events.has(about)) events.set(about, []);
        events.get(about)!.push(describeReply(m));
      }
      return events.get(sessionId) ?? [];
    };
    const done = () => expected.every((e) => eventsOf(e.sessionId).length >= e.events.length);
    await deadline(
      (async () => {
        while (!done()) await delay(20);
      })(),
      WAIT_MS,
      () => `${target.name}: listener ${l} to see every broadcast and rename`,
    ).catch(() => {});
    for (const e of expected) {
      same(
        eventsOf(e.sessionId),
        e.events,
        `${target.name}: listener ${l} (session ${listener.sessionId}), the renames and ` +
          `broadcasts of session ${e.sessionId}, each once, in order (replay with ` +
          `FUZZ_SEED=${settings.seed})`,
      );
    }
  }
  return `${target.name}: seed=${settings.seed} cases=${cases} sessions=${counts.sessions} ` +
    `rounds=${counts.rounds} frames=${counts.frames} writes=${counts.writes}, ` +
    `listeners=${target.listeners.length} checked ${
      expected.reduce((n, e) => n + e.events.length, 0)
    } events each`;
}

async function runSession(
  target: SequenceTarget,
  slot: CaseSlot,
  expected: Expected[],
  counts: { sessions: number; rounds: number; frames: number; writes: number },
): Promise<void> {
  const rng = new Rng(slot.seed);
  const server = rng.int(0, target.servers.length - 1);
  const log: string[] = [`case #${slot.index} case-seed=${slot.seed} server ${server}`];
  await using client = await TestClient.connect(target.servers[server].port);
  counts.sessions++;
  const me = client.sessionId;
  log.push(`session ${me}`);
  const model = new SessionModel(rng, slot.index, client.welcome.nickname);
  let seen = 0;
  try {
    const rounds = rng.int(1, 4);
    for (let round = 0; round < rounds; round++) {
      const steps = Array.from({ length: rng.int(2, 14) }, () => model.step());
      const nonce = BigInt(slot.index) * 100n + BigInt(round);
      const frames = [...steps.map(messageOf), { body: { case: "ping", value: { nonce } } }]
        .map((m) => encodeFrames([encodeClientMessage(m as ClientMessageInit)]));
      const writes = writesOf(rng, frames);
      log.push(
        `round ${round}: ${steps.map((s, i) => `${i}: ${describeStep(s)}`).join("; ")}`,
        `  writes (frames, pause before): ${
          writes.map((w) => `[${w.frames}, ${w.pause}, ${w.bytes.length} B]`).join(" ")
        }`,
      );
      for (const write of writes) {
        await pause(write.pause);
        await client.sendRaw(write.bytes);
      }
      counts.rounds++;
      counts.frames += frames.length;
      counts.writes += writes.length;
      model.ownReplies.push(`pong ${nonce}`);
      await client.nextMatching(
        (m) => m.body.case === "pong" && m.body.value.nonce === nonce,
        WAIT_MS,
        `pong ${nonce}`,
      );
      const own = client.received.filter((m) => isOwn(m, me)).map(describeReply);
      same(own.slice(seen), model.ownReplies.slice(seen), `round ${round}: the replies`);
      seen = own.length;
    }
    expected.push({ sessionId: me, events: model.forListeners });
  } catch (error) {
    throw new Error(
      `${target.name}: ${(error as Error).message}\n  ${log.join("\n  ")}`,
      { cause: error },
    );
  }
}
