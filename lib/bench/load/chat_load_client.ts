/**
 * One bench connection to the chat server: raw socket, FrameReader, frames written
 * by hand. It hands every ServerFrame to its owner's callback and keeps nothing else.
 */
import { ErrorCode } from "../../../gen/chat/v1/chat_pb.ts";
import { BadFrameError, Body, FrameReader, type ServerFrame } from "./frame_reader.ts";
import { wallClockMs } from "./send_time.ts";
import { SocketWriter } from "./socket_writer.ts";

/** The server's frames are small; a WhoResponse, which could be big, is never asked for. */
const MAX_FRAME_BYTES = 1024 * 1024;

export class ChatLoadClient {
  readonly writer: SocketWriter;
  /** From the Welcome; 0 until it arrives. */
  sessionId = 0;
  /** Resolves with the session id at the Welcome, rejects if the connection ends first. */
  readonly welcomed: Promise<number>;
  /** Resolves with why the connection ended, once it has. */
  readonly ended: Promise<string>;
  /** Called for every frame after the Welcome, with the time its read completed. */
  onFrame: (frame: ServerFrame, nowMs: number) => void = () => {};
  #closing = false;

  constructor(readonly conn: Deno.TcpConn, readBufferBytes: number) {
    conn.setNoDelay(true);
    this.writer = new SocketWriter(conn, 4096);
    const welcome = Promise.withResolvers<number>();
    this.welcomed = welcome.promise;
    this.ended = this.#read(readBufferBytes, welcome.resolve).then(
      (reason) => reason,
      (error) => this.#closing ? "closed by the bench" : describe(error),
    );
    this.ended.then((reason) => welcome.reject(new Error(reason)));
    // Callers that never wait for the Welcome must not see an unhandled rejection.
    this.welcomed.catch(() => {});
  }

  static async connect(hostname: string, port: number, readBufferBytes: number) {
    const conn = await Deno.connect({ hostname, port });
    return new ChatLoadClient(conn, readBufferBytes);
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer.
    }
  }

  async #read(bufferBytes: number, onWelcome: (sessionId: number) => void): Promise<string> {
    const buffer = new Uint8Array(bufferBytes);
    const reader = new FrameReader(MAX_FRAME_BYTES);
    let reason = "";
    const onFrame = (frame: ServerFrame, nowMs: number) => {
      if (this.sessionId === 0) {
        if (frame.body === Body.Welcome) {
          this.sessionId = frame.sessionId;
          onWelcome(frame.sessionId);
        } else if (frame.body === Body.Error) {
          reason = `server error ${ErrorCode[frame.errorCode] ?? frame.errorCode}`;
        }
        return;
      }
      if (frame.body === Body.Error && frame.fatal) {
        reason = `server error ${ErrorCode[frame.errorCode] ?? frame.errorCode}`;
      }
      this.onFrame(frame, nowMs);
    };
    let nowMs = 0;
    const withTime = (frame: ServerFrame) => onFrame(frame, nowMs);
    while (true) {
      const count = await this.conn.read(buffer);
      if (count === null) break;
      // One clock read per read: every frame in it arrived at the same moment.
      nowMs = wallClockMs();
      try {
        reader.push(buffer, count, withTime);
      } catch (error) {
        if (!(error instanceof BadFrameError)) throw error;
        this.close();
        return `bad frame from the server: ${error.message}`;
      }
    }
    this.close();
    return this.#closing && reason === ""
      ? "closed by the bench"
      : reason || "closed by the server";
  }
}

/** A connection failure in a few stable words, to group failures by reason. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Deno's messages end with the OS error code, which says the most.
  return error.message.replace(/^.*?: (?=\w[^:]*\(os error \d+\)$)/, "");
}
