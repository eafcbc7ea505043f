import { FrameTooLargeError, MalformedMessageError } from "../protocol/errors.ts";
import { formatHostPort } from "./format_host_port.ts";
import { FramedBatch, type OutboundChunk } from "./framed_batch.ts";
import type { ReceiveHandlers, Transport } from "./transport.ts";

/** How often a write checks whether the socket has sent what it was given. */
const DRAIN_POLL_MS = 5;

/**
 * A Transport over a server-side WebSocket: one binary message is one frame, with
 * no length prefix. The browser client and any WebSocket client speak it.
 */
export class WebSocketTransport implements Transport {
  readonly kind = "websocket";
  readonly peer: string;
  readonly remoteHostname: string;
  readonly hasPartialFrame = false;
  bytesRead = 0;
  bytesWritten = 0;
  readonly #socket: WebSocket;
  readonly #maxFrameBytes: number;
  readonly #opened: Promise<void>;
  /** False after a frame too large: what follows is ignored until the close. */
  #framed = true;
  /** Ends receive(): when the peer closes, or when we give up on it. */
  readonly #ended = Promise.withResolvers<void>();

  constructor(socket: WebSocket, remote: Deno.NetAddr, maxFrameBytes: number) {
    this.#socket = socket;
    this.#maxFrameBytes = maxFrameBytes;
    this.remoteHostname = remote.hostname;
    this.peer = formatHostPort(remote.hostname, remote.port);
    socket.binaryType = "arraybuffer";
    this.#opened = socket.readyState === WebSocket.OPEN
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
        socket.addEventListener("open", () => resolve(), { once: true });
        socket.addEventListener("close", () => reject(new Error("closed before it opened")), {
          once: true,
        });
      });
  }

  receive(handlers: ReceiveHandlers): Promise<void> {
    this.#socket.addEventListener("message", (event: MessageEvent) => {
      // An exception thrown in an event listener would end the process, not the session.
      try {
        this.#onMessage(event, handlers);
      } catch {
        this.close();
      }
    });
    this.#socket.addEventListener("close", () => this.#ended.resolve(), { once: true });
    return this.#ended.promise;
  }

  #onMessage(event: MessageEvent, handlers: ReceiveHandlers): void {
    if (typeof event.data === "string") {
      this.bytesRead += event.data.length;
      if (!this.#framed) return;
      // Fatal, as an oversized binary message is: Deno takes text messages of up to 64 MiB, and
      // a refusal the client may repeat would let it fill the server's memory with them.
      this.#framed = false;
      handlers.framingError(
        new MalformedMessageError(
          `Cannot parse frame: a text message (${event.data.length} characters) is not part ` +
            "of the protocol; send binary protobuf",
        ),
      );
      return;
    }
    const payload = new Uint8Array(event.data as ArrayBuffer);
    this.bytesRead += payload.length;
    if (!this.#framed) return;
    if (payload.length > this.#maxFrameBytes) {
      this.#framed = false;
      handlers.framingError(
        new FrameTooLargeError(
          `Cannot parse frame: length ${payload.length} exceeds ${this.#maxFrameBytes} bytes`,
        ),
      );
      return;
    }
    handlers.frame(payload);
  }

  async write(chunks: readonly OutboundChunk[]): Promise<void> {
    await this.#opened;
    for (const chunk of chunks) {
      for (const payload of chunk instanceof FramedBatch ? chunk.payloads : [chunk]) {
        this.#socket.send(payload);
        this.bytesWritten += payload.length;
      }
    }
    // send() never waits; the write is only done when the socket has sent it all,
    // which is what lets the session's queue limits and write timeout see a slow reader.
    while (this.#socket.bufferedAmount > 0 && this.#socket.readyState === WebSocket.OPEN) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    if (this.#socket.readyState !== WebSocket.OPEN) throw new Error("the WebSocket closed");
  }

  closeWrite(): Promise<void> {
    // WebSocket has no half-close: the close handshake lets the peer close first.
    this.#startClosing();
    return Promise.resolve();
  }

  close(): void {
    this.#startClosing();
    // A peer that does not read never answers the close handshake, and Deno has no
    // way to drop the socket at once: the session ends now, whatever the socket does.
    this.#ended.resolve();
  }

  #startClosing(): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(1000);
    // Deno ignores close() on a socket still opening: close it once it has opened.
    else if (this.#socket.readyState === WebSocket.CONNECTING) {
      this.#socket.addEventListener("open", () => this.#socket.close(1000), { once: true });
    }
  }
}
