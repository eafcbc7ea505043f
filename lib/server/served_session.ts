import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { encodeServerMessage } from "../protocol/codec.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { FrameTooLargeError } from "../protocol/errors.ts";
import { guestNickname } from "../protocol/nickname.ts";
import type { Transport } from "../net/transport.ts";
import { describeError } from "../util/describe_error.ts";
import { handleFrame } from "./handlers.ts";
import { InOrder, type InOrderHandler } from "./in_order.ts";
import { Session, type SessionEvents, type SessionLimits } from "./session.ts";
import { SessionContext, type SessionContextShared } from "./session_context.ts";

/** Frames of one session that may wait behind a nickname claim sent to the cluster. */
const MAX_FRAMES_WAITING = 256;

/**
 * A session as the server serves it: its frames go to the handlers one after another,
 * and what it reports is answered. Like SessionContext, it keeps its methods on the
 * prototype rather than in closures made for each of thousands of idle sessions.
 */
export class ServedSession implements SessionEvents, InOrderHandler<Uint8Array> {
  readonly session: Session;
  readonly #shared: SessionContextShared;
  readonly #context: SessionContext;
  readonly #frames: InOrder<Uint8Array>;

  constructor(
    id: bigint,
    transport: Transport,
    limits: SessionLimits,
    shared: SessionContextShared,
  ) {
    this.#shared = shared;
    // Safe before the fields below are set: a session reports nothing while it is built.
    this.session = new Session(id, guestNickname(id), transport, limits, this);
    this.#context = new SessionContext(this.session, shared);
    this.#frames = new InOrder(this, MAX_FRAMES_WAITING);
  }

  /** Resolves once every frame received so far has been handled. */
  framesHandled(): Promise<void> {
    return this.#frames.idle();
  }

  /** From the session: a frame arrived; it is handled in its turn. */
  frame(payload: Uint8Array): void {
    if (!this.#frames.push(payload)) {
      this.#context.reply(errorMessage(
        ErrorCode.RATE_LIMITED,
        "Too many requests while a nickname change is pending; this one was dropped",
      ));
    }
  }

  /** Nothing more can be read from the connection: it closes, whatever the error. */
  framingError(error: Error): void {
    const tooLarge = error instanceof FrameTooLargeError;
    const code = tooLarge ? ErrorCode.FRAME_TOO_LARGE : ErrorCode.MALFORMED;
    this.session.end(
      tooLarge ? "frame too large" : "unframed message",
      encodeServerMessage({
        body: {
          case: "error",
          value: { code, message: error.message, fatal: true, clientSeq: 0n },
        },
      }),
    );
  }

  /**
   * Out of the chat as soon as it starts closing: its name is free and others see it go.
   * After the frames it sent before closing, though, even those waiting behind a
   * nickname claim: a client that says something and quits is heard.
   */
  closing(): void {
    this.#frames.idle().then(() => this.#shared.hub.leave(this.session));
  }

  /** Reading waits while the hub holds reads back. */
  readHold(): Promise<void> | undefined {
    return this.#shared.hub.readHold();
  }

  /** From the InOrder: a frame's turn has come. */
  handle(payload: Uint8Array): void | Promise<void> {
    return handleFrame(this.#context, payload);
  }

  /** A frame's payload is a view of the transport's read buffer, which the next read fills. */
  keep(payload: Uint8Array): Uint8Array {
    return payload.slice();
  }

  handleFailed(error: unknown): void {
    this.#shared.logger.log("error", "session_failed", `unexpected error: ${describeError(error)}`);
  }
}
