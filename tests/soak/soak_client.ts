import { Action, ErrorCode, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { decodeServerMessage, encodeClientMessage } from "../../lib/protocol/codec.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { deadline } from "../support/deadline.ts";
import { SeqTracker } from "./seq_tracker.ts";

/** Broadcasts are numbered from here on, so an Error's client_seq tells which kind it was about. */
export const BROADCAST_SEQ_BASE = 1_000_000_000;

/**
 * A ServerMessage whose body is Presence starts with the tag of field 4, length-delimited
 * (4 << 3 | 2): the only field at the top level, as chat.proto has it. A soak of 1000
 * clients gets about half a million of them while connecting, and only counts them.
 */
const PRESENCE_TAG = (4 << 3) | 2;

const READ_BUFFER_BYTES = 16 * 1024;
const MAX_ERRORS_KEPT = 5;

/**
 * A lightweight raw protocol client for the soak test: it keeps counters, not
 * messages, and checks each chat event as it arrives. Writes go through a per-client
 * outbox, so there is never more than one write in flight on a connection.
 */
export class SoakClient {
  readonly conn: Deno.TcpConn;
  sessionId = 0n;
  readonly welcomed: Promise<void>;
  /** Resolves when the connection has ended, whoever ended it. */
  readonly closed: Promise<void>;

  sentEcho = 0;
  sentBroadcast = 0;
  /** Chats the server refused with an Error carrying their client_seq (RATE_LIMITED, say). */
  rejectedEcho = 0;
  rejectedBroadcast = 0;
  rateLimited = 0;
  readonly echoes = new SeqTracker();
  /** One tracker per broadcaster, by its index in `broadcasters`. */
  broadcasts: SeqTracker[] = [];
  /** Chat events that match nothing sent: wrong content, unknown sender, a number never sent. */
  unexpected = 0;
  presence = 0;
  pongs = 0;
  errorCount = 0;
  readonly errors: string[] = [];
  shutdownNotice = false;
  /** The server closed the connection (or it broke) before we closed it. */
  endedByServer = false;
  writeError: string | undefined;
  /** From the server's accept time (ChatEvent.sent_at_unix_ms) to our read. */
  maxLatencyMs = 0;
  latencySumMs = 0;
  latencyCount = 0;

  #broadcasters: readonly SoakClient[] = [];
  #broadcasterIndex = new Map<bigint, number>();
  #welcome = Promise.withResolvers<void>();
  #outbox: Uint8Array[] = [];
  #flushing: Promise<void> | undefined;
  #closing = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    conn.setNoDelay(true);
    this.welcomed = this.#welcome.promise;
    // Nobody may be waiting for the Welcome when the connection fails later.
    this.welcomed.catch(() => {});
    this.closed = this.#read();
  }

  /** Connects to 127.0.0.1:`port` and waits for the Welcome, up to `ms`. */
  static async connect(port: number, ms = 10_000): Promise<SoakClient> {
    const conn = await deadline(
      Deno.connect({ hostname: "127.0.0.1", port }),
      ms,
      "a connection",
    );
    const client = new SoakClient(conn);
    try {
      await deadline(client.welcomed, ms, "the Welcome");
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** Who broadcasts in this run; every client expects every broadcast from each of them. */
  expectBroadcastsFrom(broadcasters: readonly SoakClient[]): void {
    this.#broadcasters = broadcasters;
    this.#broadcasterIndex = new Map(broadcasters.map((b, index) => [b.sessionId, index]));
    this.broadcasts = broadcasters.map(() => new SeqTracker());
  }

  get healthy(): boolean {
    return !this.endedByServer && this.writeError === undefined;
  }

  /** Sends the next echo: content "e:<sessionId>:<seq>". */
  sendEcho(): void {
    const seq = ++this.sentEcho;
    this.#queueChat(Action.ECHO, `e:${this.sessionId}:${seq}`, BigInt(seq));
  }

  /** Sends the next broadcast: content "b:<sessionId>:<n>", client_seq BROADCAST_SEQ_BASE + n. */
  sendBroadcast(): void {
    const n = ++this.sentBroadcast;
    this.#queueChat(Action.BROADCAST, `b:${this.sessionId}:${n}`, BigInt(BROADCAST_SEQ_BASE + n));
  }

  /** Sends a Ping; its Pong comes after everything the server queued for us before it. */
  sendPing(nonce: bigint): void {
    this.#queue(encodeClientMessage({ body: { case: "ping", value: { nonce } } }));
  }

  /** Resolves when everything queued so far has been written (or writing failed). */
  async flushed(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.conn.close();
      } catch {
        // Already closed after the server ended it.
      }
    }
    await this.closed;
    await this.flushed();
  }

  #queueChat(action: Action, content: string, clientSeq: bigint): void {
    this.#queue(
      encodeClientMessage({ body: { case: "chat", value: { content, action, clientSeq } } }),
    );
  }

  #queue(payload: Uint8Array): void {
    if (this.#closing || this.writeError !== undefined) return;
    this.#outbox.push(payload);
    this.#flushing ??= this.#flush();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#outbox.length > 0 && !this.#closing) {
        const bytes = encodeFrames(this.#outbox);
        this.#outbox = [];
        for (let written = 0; written < bytes.length;) {
          written += await this.conn.write(bytes.subarray(written));
        }
      }
    } catch (error) {
      if (!this.#closing) this.writeError = String(error);
    } finally {
      this.#outbox = [];
      this.#flushing = undefined;
    }
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (true) {
        const count = await this.conn.read(buffer);
        if (count === null) break;
        decoder.push(buffer.subarray(0, count), (payload) => this.#onFrame(payload));
      }
    } catch {
      // A reset, or our own close: the connection is over either way.
    } finally {
      if (!this.#closing) {
        this.endedByServer = true;
        this.#closing = true;
        try {
          this.conn.close();
        } catch {
          // Already closed.
        }
      }
      this.#welcome.reject(new Error("connection closed before the Welcome"));
    }
  }

  #onFrame(payload: Uint8Array): void {
    if (payload[0] === PRESENCE_TAG && this.sessionId !== 0n) {
      this.presence++;
      return;
    }
    const message = decodeServerMessage(payload);
    const body = message.body;
    switch (body.case) {
      case "welcome":
        this.sessionId = body.value.sessionId;
        this.#welcome.resolve();
        return;
      case "chat":
        return this.#onChat(body.value);
      case "pong":
        this.pongs++;
        return;
      case "presence":
        this.presence++;
        return;
      case "error":
        return this.#onError(body.value);
      default:
        this.unexpected++;
    }
  }

  #onChat(event: Extract<ServerMessage["body"], { case: "chat" }>["value"]): void {
    const latency = Date.now() - Number(event.sentAtUnixMs);
    if (latency > this.maxLatencyMs) this.maxLatencyMs = latency;
    this.latencySumMs += latency;
    this.latencyCount++;
    const seq = Number(event.clientSeq);
    if (event.action === Action.ECHO) {
      if (
        event.fromSessionId !== this.sessionId || seq < 1 || seq > this.sentEcho ||
        event.content !== `e:${this.sessionId}:${seq}`
      ) {
        this.unexpected++;
        return;
      }
      this.echoes.add(seq);
      return;
    }
    const index = this.#broadcasterIndex.get(event.fromSessionId);
    const n = seq - BROADCAST_SEQ_BASE;
    if (
      event.action !== Action.BROADCAST || index === undefined || n < 1 ||
      n > this.#broadcasters[index].sentBroadcast ||
      event.content !== `b:${event.fromSessionId}:${n}`
    ) {
      this.unexpected++;
      return;
    }
    this.broadcasts[index].add(n);
  }

  #onError(error: Extract<ServerMessage["body"], { case: "error" }>["value"]): void {
    if (error.code === ErrorCode.SHUTTING_DOWN) {
      this.shutdownNotice = true;
      return;
    }
    this.errorCount++;
    if (this.errors.length < MAX_ERRORS_KEPT) {
      this.errors.push(`${ErrorCode[error.code]}: ${error.message} (seq ${error.clientSeq})`);
    }
    if (error.code === ErrorCode.RATE_LIMITED) this.rateLimited++;
    if (error.clientSeq === 0n) return;
    if (error.clientSeq > BigInt(BROADCAST_SEQ_BASE)) this.rejectedBroadcast++;
    else this.rejectedEcho++;
  }
}
