import { MAX_TIMER_MS } from "../util/max_timer_ms.ts";
import { ErrorCode, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import type { ClientMessageInit } from "../protocol/codec.ts";
import { TokenBucket } from "../server/token_bucket.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";

export interface OutboxOptions {
  /** Writes one message to the connection. */
  write(message: ClientMessageInit): void;
  /** Told when a request leaves the outbox for the first time (not when it is resent). */
  sent?(message: ClientMessageInit): void;
  /** Welcome.rate_limit_per_second: 0 when the server does not advertise its limit. */
  ratePerSecond: number;
  /** Welcome.rate_burst. */
  burst: number;
  /** Resends of one refused line before its refusal is let through. @default 5 */
  maxResends?: number;
  /** The wait before resend number N of a line. @default 100 ms doubling up to 1.6 s, with jitter */
  resendBackoff?: BackoffOptions;
  clock?: Clock;
}

interface Entry {
  /** Position in the order the requests were made. */
  readonly ordinal: number;
  readonly message: ClientMessageInit;
  /** Set for chat lines: their client_seq. */
  readonly clientSeq: bigint | undefined;
  resends: number;
}

/**
 * The server allows 90% of this: the client's clock and the server's do not see a line
 * at quite the same moment, and a line that arrives a little early would be refused.
 */
const PACING_MARGIN = 0.9;

/**
 * A connection's requests, in order, sent no faster than the server's chat rate
 * limit allows: the server's token bucket, as Welcome advertises it, mirrored on
 * this side. Only chat lines take tokens, but nothing overtakes a line that waits.
 *
 * Should the server refuse one of our lines anyway (RATE_LIMITED with its
 * client_seq: a server that does not advertise its limit, or clocks that disagree),
 * the line goes out again after a pause, up to `maxResends` times, and nothing
 * behind it is sent before it: until it is through, one chat line at a time is in
 * flight. Against a server that does not advertise its limit that stays so for
 * the rest of the connection, since only refusals tell what the limit is.
 */
export class Outbox implements Disposable {
  readonly #options: OutboxOptions;
  readonly #clock: Clock;
  readonly #bucket: TokenBucket | undefined;
  readonly #maxResends: number;
  readonly #resendBackoff: BackoffOptions;
  /** Requests not sent yet, in order. */
  readonly #queue: Entry[] = [];
  /** Refused lines waiting to go again, in order; they go before the queue. */
  readonly #resends: Entry[] = [];
  /** Chat lines sent and not answered yet, by client_seq. */
  readonly #inFlight = new Map<bigint, Entry>();
  /** Refused lines not through yet (waiting or in flight): while any is, one line at a time. */
  #unsettledResends = 0;
  #everRefused = false;
  #nextOrdinal = 0;
  /** Nothing goes before this (clock time), after a refusal. */
  #holdUntil = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;

  constructor(options: OutboxOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#maxResends = options.maxResends ?? 5;
    this.#resendBackoff = options.resendBackoff ?? { initialMs: 100, maxMs: 1600 };
    if (options.ratePerSecond > 0) {
      this.#bucket = new TokenBucket(
        options.ratePerSecond * PACING_MARGIN,
        Math.max(1, options.burst),
        this.#clock,
      );
    }
  }

  /** Requests not sent yet, refused lines waiting to go again included. */
  get unsent(): number {
    return this.#queue.length + this.#resends.length;
  }

  /** Queues a request behind the others; it goes now if nothing holds it. */
  push(message: ClientMessageInit): void {
    const clientSeq = message.body?.case === "chat"
      ? BigInt(message.body.value.clientSeq ?? 0n)
      : undefined;
    this.#queue.push({ ordinal: this.#nextOrdinal++, message, clientSeq, resends: 0 });
    this.#pump();
  }

  /**
   * Looks at a message from the server for the answer to one of our lines. True
   * when it is a refusal that this outbox deals with by resending, and so should
   * not be shown.
   */
  receive(message: ServerMessage, ownSessionId: bigint): boolean {
    const body = message.body;
    let entry: Entry | undefined;
    if (body.case === "chat" && body.value.fromSessionId === ownSessionId) {
      entry = this.#inFlight.get(body.value.clientSeq);
    } else if (body.case === "error" && body.value.clientSeq !== 0n) {
      entry = this.#inFlight.get(body.value.clientSeq);
    }
    if (entry === undefined) return false;
    this.#inFlight.delete(entry.clientSeq!);
    const refused = body.case === "error" && body.value.code === ErrorCode.RATE_LIMITED;
    if (refused && entry.resends < this.#maxResends) {
      this.#refused(entry);
      this.#pump();
      return true;
    }
    if (entry.resends > 0) this.#unsettledResends--;
    this.#pump();
    return false;
  }

  /** Stops sending; what is still here is dropped. */
  [Symbol.dispose](): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #refused(entry: Entry): void {
    if (entry.resends === 0) this.#unsettledResends++;
    entry.resends++;
    this.#everRefused = true;
    // The server's bucket is empty, whatever ours said.
    this.#bucket?.empty();
    const pause = backoffDelay(entry.resends, this.#resendBackoff);
    this.#holdUntil = Math.max(this.#holdUntil, this.#clock.now() + pause);
    // Refusals come back in the order the lines went out, so this is nearly always the end.
    let at = this.#resends.length;
    while (at > 0 && this.#resends[at - 1].ordinal > entry.ordinal) at--;
    this.#resends.splice(at, 0, entry);
  }

  /** One line at a time while a refused line is not through (for good, without advertised limits). */
  get #oneAtATime(): boolean {
    return this.#unsettledResends > 0 || (this.#bucket === undefined && this.#everRefused);
  }

  #pump(): void {
    if (this.#disposed || this.#timer !== undefined) return;
    while (true) {
      const resend = this.#resends.length > 0;
      const entry = resend ? this.#resends[0] : this.#queue[0];
      if (entry === undefined) return;
      if (this.#oneAtATime && this.#inFlight.size > 0) return; // receive() pumps again
      if (entry.clientSeq !== undefined) {
        const wait = Math.max(
          this.#holdUntil - this.#clock.now(),
          this.#bucket?.msUntilToken() ?? 0,
        );
        if (wait > 0) {
          // A longer timer would fire at once (Deno keeps delays in 32 bits); the pump waits again.
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.#pump();
          }, Math.min(Math.ceil(wait), MAX_TIMER_MS));
          return;
        }
        this.#bucket?.take();
        this.#inFlight.set(entry.clientSeq, entry);
      }
      (resend ? this.#resends : this.#queue).shift();
      this.#options.write(entry.message);
      if (entry.resends === 0) this.#options.sent?.(entry.message);
    }
  }
}
