import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { TlsOnPlainPortError } from "../net/tls_hello.ts";
import { encodeServerMessage } from "../protocol/codec.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { describeError } from "../util/describe_error.ts";
import { realClock } from "../util/clock.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { TokenBucket } from "./token_bucket.ts";
import { RENAME_BURST } from "./options.ts";
import { MAX_ROOMS_PER_SESSION } from "../protocol/room_name.ts";
import { OutboundQueue, type WriteFailureListener } from "../net/outbound_queue.ts";
import type { HubMember } from "./hub.ts";
import type { BroadcastLog } from "../net/broadcast_log.ts";
import type { ReceiveHandlers, Transport } from "../net/transport.ts";

/** How long a closing session keeps reading after its last write, so the peer can read it. */
const LINGER_MS = 2000;

/**
 * A session whose write made no progress for this long, and over this many of the hub's
 * passes, is not reading (see HubMember.stalled). A client that reads, however slowly,
 * takes some bytes every few milliseconds; a server too busy to see its writes complete
 * runs fewer passes, so the count keeps its own slowness from looking like the client's.
 */
const STALLED_AFTER_MS = 250;
const STALLED_AFTER_PASSES = 8;

/** A slow consumer's writes are stalled already: its notice gets this long, not the full close timeout. */
const SLOW_CONSUMER_CLOSE_MS = 1000;

export interface SessionLimits {
  /** Bytes queued for the client beyond which it is cut as a slow consumer. */
  maxQueueBytes: number;
  /** How long one write may stall before the client is cut as a slow consumer, in ms. */
  writeTimeoutMs: number;
  /** How long the client may send no frame, in ms. */
  idleTimeoutMs: number;
  /** How long a frame may take to arrive once begun, in ms. */
  frameTimeoutMs: number;
  /** How long a graceful close may take before the connection is closed anyway, in ms. */
  closeTimeoutMs: number;
  /** Chat messages per second on average, after a burst; 0 for no limit. */
  rateLimitPerSecond: number;
  rateBurst: number;
  /** Nickname changes per minute on average, after RENAME_BURST; 0 for no limit. */
  renameLimitPerMinute: number;
}

/** What a session reports to its owner. */
export interface SessionEvents {
  /** One frame payload; never called once the session is closing. */
  frame(payload: Uint8Array): void;
  /** The stream could not be framed; the owner decides what to tell the client. */
  framingError(error: Error): void;
  /** The session began to close: from now on it is out of the chat. Called once. */
  closing(): void;
  /** See ReceiveHandlers.readHold. */
  readHold?(): Promise<void> | undefined;
  /**
   * Resolves once the frames received so far are handled: a client that sends and then
   * shuts its side gets the replies, even those a handler had to wait for (an account's
   * password check, a nickname claim in the cluster).
   */
  framesHandled?(): Promise<void>;
}

/**
 * One connection's state: identity, limits, outbound queue and lifecycle. It
 * knows nothing of what frames mean; its owner does.
 *
 * It is its own transport's ReceiveHandlers and its queue's WriteFailureListener:
 * methods on the prototype cost an idle session nothing, closures would.
 */
export class Session implements HubMember, ReceiveHandlers, WriteFailureListener {
  readonly id: bigint;
  readonly transport: Transport;
  nickname: string;
  /** What the client calls itself (Hello.client). */
  clientName = "";
  /** The key of the account the session identified as, while it holds its nickname. */
  account: string | undefined;
  /**
   * With --require-account: the key of the account the session was let in with, which it
   * keeps whatever nickname it takes after; it is cut once that account is deleted.
   */
  admittedBy: string | undefined;
  readonly #limits: SessionLimits;
  readonly #events: SessionEvents;
  readonly #queue: OutboundQueue;
  #chatBucket: TokenBucket | undefined;
  #renameBucket: TokenBucket | undefined;
  #roomBucket: TokenBucket | undefined;
  #lastFrameAt: number;
  #partialFrameSince: number | undefined;
  #framesIn = 0;
  #framesOut = 0;
  #closeReason: string | undefined;
  /** transport.bytesWritten at the hub's last pass, and when it last changed (performance.now()). */
  #bytesWrittenAtPass = 0;
  #progressAt = 0;
  /** The `now` of the hub's pass that last counted this session's progress. */
  #passAt = -1;
  #passesWithoutProgress = 0;
  #stalled = false;
  #ending: Promise<void> | undefined;
  #received: Promise<void> | undefined;

  constructor(
    id: bigint,
    nickname: string,
    transport: Transport,
    limits: SessionLimits,
    events: SessionEvents,
  ) {
    this.id = id;
    this.nickname = nickname;
    this.transport = transport;
    this.#limits = limits;
    this.#events = events;
    this.#lastFrameAt = realClock.now();
    this.#queue = new OutboundQueue(transport, this);
  }

  /** True once the session has started to close: its frames are ignored from then on. */
  get isClosing(): boolean {
    return this.#closeReason !== undefined;
  }

  /** Frames received and queued, for the server's counters. */
  get framesIn(): number {
    return this.#framesIn;
  }

  get framesOut(): number {
    return this.#framesOut + this.#queue.logFrames;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  /** Takes a token from the chat rate limit: false when the client is over it. */
  allowChat(): boolean {
    const { rateLimitPerSecond, rateBurst } = this.#limits;
    if (rateLimitPerSecond <= 0) return true;
    // Made at the first chat, not at connect: it would be full by then anyway.
    this.#chatBucket ??= new TokenBucket(rateLimitPerSecond, rateBurst, realClock);
    return this.#chatBucket.take();
  }

  /**
   * Takes a token for a join, part or history request: at the chat rate, with room in the
   * burst for a client that rejoins all its rooms after a reconnect.
   */
  allowRoomRequest(): boolean {
    const { rateLimitPerSecond, rateBurst } = this.#limits;
    if (rateLimitPerSecond <= 0) return true;
    this.#roomBucket ??= new TokenBucket(
      rateLimitPerSecond,
      rateBurst + MAX_ROOMS_PER_SESSION,
      realClock,
    );
    return this.#roomBucket.take();
  }

  /** Takes a token from the rename limit: false when the client is over it. */
  allowRename(): boolean {
    const perMinute = this.#limits.renameLimitPerMinute;
    if (perMinute <= 0) return true;
    this.#renameBucket ??= new TokenBucket(perMinute / 60, RENAME_BURST, realClock);
    return this.#renameBucket.take();
  }

  /** Bytes owed to the client: the logs' frames it lags by, and its own. */
  get backlogBytes(): number {
    return this.#queue.pendingBytes;
  }

  /** Resolves when the write in flight (or the next) ends, or the session stops writing. */
  writeEnded(): Promise<void> {
    return this.#queue.writeEnded();
  }

  /** Cuts the session: it does not read what it asked for. */
  cutAsSlowConsumer(why: string): void {
    if (!this.isClosing) this.#cutAsSlowConsumer(why);
  }

  send(payload: Uint8Array): void {
    if (this.isClosing) return;
    this.#framesOut++;
    this.#queue.push(payload);
    this.#cutIfBehind();
  }

  follow(log: BroadcastLog): void {
    if (this.isClosing) return;
    this.#queue.follow(log);
  }

  unfollow(log: BroadcastLog): void {
    this.#queue.unfollow(log);
  }

  deliver(now: number, log: BroadcastLog): number | undefined {
    if (this.isClosing) return undefined;
    // A member of several rooms is delivered to once for each: its progress is counted once a pass.
    if (now !== this.#passAt) {
      this.#passAt = now;
      this.#countProgress(now);
    }
    this.#queue.writeLog();
    return this.#cutIfBehind() ? undefined : this.#queue.unwritten(log);
  }

  #countProgress(now: number): void {
    const written = this.transport.bytesWritten;
    if (written !== this.#bytesWrittenAtPass || this.#queue.writeStartedAt === undefined) {
      this.#bytesWrittenAtPass = written;
      this.#progressAt = now;
      this.#passesWithoutProgress = 0;
    } else this.#passesWithoutProgress++;
    this.#stalled = this.#passesWithoutProgress >= STALLED_AFTER_PASSES &&
      now - this.#progressAt > STALLED_AFTER_MS;
  }

  /** True when the session was cut: over its queue limit, the log's frames it lags included. */
  #cutIfBehind(): boolean {
    if (this.#queue.pendingBytes <= this.#limits.maxQueueBytes) return false;
    this.#cutAsSlowConsumer(`over ${this.#limits.maxQueueBytes} bytes were waiting for you`);
    return true;
  }

  #cutAsSlowConsumer(why: string): void {
    // What it has not read is dropped: only the notice is worth sending now.
    this.#queue.clear();
    this.#queue.unfollow(undefined, true);
    this.end(
      "slow consumer",
      encodeServerMessage(
        errorMessage(ErrorCode.SLOW_CONSUMER, `You are not reading fast enough: ${why}`),
      ),
      Math.min(SLOW_CONSUMER_CLOSE_MS, this.#limits.closeTimeoutMs),
    );
  }

  /** Reads frames until the connection ends, and returns why it ended. */
  async run(): Promise<string> {
    this.#received = this.transport.receive(this);
    try {
      await this.#received;
      // The client may have shut only its sending side: it still gets its replies.
      await this.#events.framesHandled?.();
      await this.end("closed by client");
    } catch (error) {
      // Said as it is: the peer is not broken, it speaks another protocol.
      this.#beginClose(
        error instanceof TlsOnPlainPortError
          ? error.message
          : `connection lost: ${describeError(error)}`,
      );
      this.#queue.stop();
      this.transport.close();
    }
    await this.#ending;
    return this.#closeReason ?? "closed";
  }

  /** For the transport: a frame arrived. */
  frame(payload: Uint8Array): void {
    this.#framesIn++;
    this.#lastFrameAt = realClock.now();
    this.#partialFrameSince = undefined;
    if (!this.isClosing) this.#events.frame(payload);
  }

  /**
   * For the transport: whether reading may go on now. The chat messages that wait in the
   * kernel meanwhile arrive at once when it resumes: the rate limit is credited with the
   * time held, so that a client that kept to it is not refused for the server's pause.
   */
  readHold(): Promise<void> | undefined {
    const hold = this.#events.readHold?.();
    if (hold === undefined) return undefined;
    const heldAt = realClock.now();
    return hold.then(() => this.#chatBucket?.credit(realClock.now() - heldAt));
  }

  /** For the transport: the stream cannot be framed. */
  framingError(error: Error): void {
    this.#events.framingError(error);
  }

  /** For the queue: a write failed, so the connection is broken. */
  writeFailed(error: unknown): void {
    this.#beginClose(`write failed: ${describeError(error)}`);
    this.transport.close();
  }

  /**
   * Cuts the session if it broke a deadline: a write stalled too long, no frame
   * for too long, or a frame begun too long ago. The server calls this a few
   * times a second; each check is a comparison, so thousands of sessions are cheap.
   * `readsAllowedSince` is when the hub last let reads go on (Hub.readsAllowedSince):
   * silence before it is not the client's.
   */
  enforceDeadlines(now: number, readsAllowedSince = 0): void {
    if (this.isClosing) return;
    const limits = this.#limits;
    const writeStartedAt = this.#queue.writeStartedAt;
    if (writeStartedAt !== undefined && now - writeStartedAt > limits.writeTimeoutMs) {
      this.#cutAsSlowConsumer(`a write to you stalled for over ${limits.writeTimeoutMs / 1000} s`);
      return;
    }
    // While the server held reads back, the client could not be heard: no deadline ran.
    if (readsAllowedSince > this.#lastFrameAt) this.#lastFrameAt = readsAllowedSince;
    if (this.transport.hasPartialFrame) this.#partialFrameSince ??= now;
    else this.#partialFrameSince = undefined;
    if (this.#partialFrameSince !== undefined && readsAllowedSince > this.#partialFrameSince) {
      this.#partialFrameSince = readsAllowedSince;
    }
    if (
      this.#partialFrameSince !== undefined && now - this.#partialFrameSince > limits.frameTimeoutMs
    ) {
      this.end(
        "frame timeout",
        encodeServerMessage(errorMessage(
          ErrorCode.IDLE_TIMEOUT,
          `A frame was begun but not finished within ${limits.frameTimeoutMs / 1000} s`,
        )),
      );
      return;
    }
    if (now - this.#lastFrameAt > limits.idleTimeoutMs) {
      this.end(
        "idle timeout",
        encodeServerMessage(errorMessage(
          ErrorCode.IDLE_TIMEOUT,
          `Nothing received from you for ${limits.idleTimeoutMs / 1000} s`,
        )),
      );
    }
  }

  /**
   * Closes gracefully: queues `lastPayload`, waits for the queue to drain, shuts
   * the sending side, lets the peer close first, then closes; all within
   * `timeoutMs` (the close timeout by default).
   */
  end(
    reason: string,
    lastPayload?: Uint8Array,
    timeoutMs = this.#limits.closeTimeoutMs,
  ): Promise<void> {
    if (this.#ending !== undefined) return this.#ending;
    if (lastPayload !== undefined) this.#queue.push(lastPayload);
    // What the log held up to now is still written; nothing later is for a closing session.
    this.#queue.unfollow();
    this.#beginClose(reason);
    this.#ending = this.#close(timeoutMs);
    return this.#ending;
  }

  #beginClose(reason: string): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    this.#events.closing();
  }

  async #close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const drained = await waitAtMost(this.#queue.drained(), timeoutMs);
    this.#queue.stop();
    // A write still in flight blocks the shutdown of the sending side: close at once.
    if (drained) {
      // Closing a socket with unread input makes the kernel send RST, which can
      // destroy our last frames before the peer reads them; FIN first, then linger.
      await waitAtMost(this.transport.closeWrite(), deadline - Date.now());
      if (this.#received !== undefined) {
        await waitAtMost(this.#received, Math.min(LINGER_MS, deadline - Date.now()));
      }
    }
    this.transport.close();
  }
}
