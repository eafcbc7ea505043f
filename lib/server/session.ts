import { describeError } from "../util/describe_error.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { OutboundQueue } from "../net/outbound_queue.ts";
import type { HubMember } from "./hub.ts";
import type { Transport } from "../net/transport.ts";

/** How long a closing session keeps reading after its last write, so the peer can read it. */
const LINGER_MS = 2000;

/**
 * One connection's state: identity, outbound queue and lifecycle. It knows
 * nothing of what frames mean; `onFrame` does.
 */
export class Session implements HubMember {
  readonly id: bigint;
  readonly transport: Transport;
  nickname: string;
  /** What the client calls itself (Hello.client). */
  clientName = "";
  readonly #queue: OutboundQueue;
  #closeReason: string | undefined;
  #ending: Promise<void> | undefined;
  #received: Promise<void> | undefined;

  constructor(id: bigint, nickname: string, transport: Transport) {
    this.id = id;
    this.nickname = nickname;
    this.transport = transport;
    this.#queue = new OutboundQueue(
      (payloads) => transport.write(payloads),
      (error) => {
        this.#closeReason ??= `write failed: ${describeError(error)}`;
        transport.close();
      },
    );
  }

  /** True once the session has started to close: its frames are ignored from then on. */
  get isClosing(): boolean {
    return this.#closeReason !== undefined;
  }

  send(payload: Uint8Array): void {
    if (!this.isClosing) this.#queue.push(payload);
  }

  /**
   * Reads frames until the connection ends, and returns why it ended.
   * `onFrame` is not called once the session is closing.
   */
  async run(
    onFrame: (payload: Uint8Array) => void,
    onFramingError: (error: Error) => void,
  ): Promise<string> {
    this.#received = this.transport.receive({
      frame: (payload) => {
        if (!this.isClosing) onFrame(payload);
      },
      framingError: onFramingError,
    });
    try {
      await this.#received;
      // The client may have only shut its sending side: it still gets its replies.
      await this.end("closed by client", undefined, LINGER_MS);
    } catch (error) {
      this.#closeReason ??= `connection lost: ${describeError(error)}`;
      this.#queue.stop();
      this.transport.close();
    }
    await this.#ending;
    return this.#closeReason ?? "closed";
  }

  /**
   * Closes gracefully: queues `lastPayload`, waits up to `timeoutMs` for the queue
   * to drain, shuts the sending side, lets the peer close first, then closes.
   */
  end(reason: string, lastPayload: Uint8Array | undefined, timeoutMs: number): Promise<void> {
    if (this.#ending !== undefined) return this.#ending;
    if (lastPayload !== undefined) this.#queue.push(lastPayload);
    this.#closeReason ??= reason;
    this.#ending = this.#close(timeoutMs);
    return this.#ending;
  }

  async #close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await waitAtMost(this.#queue.drained(), timeoutMs);
    this.#queue.stop();
    // Closing a socket with unread input makes the kernel send RST, which can
    // destroy our last frames before the peer reads them; FIN first, then linger.
    await this.transport.closeWrite();
    if (this.#received !== undefined) {
      await waitAtMost(this.#received, Math.min(LINGER_MS, deadline - Date.now()));
    }
    this.transport.close();
  }
}
