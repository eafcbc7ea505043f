import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import {
  decodeClientMessage,
  encodeServerMessage,
  type ServerMessageInit,
} from "../../lib/protocol/codec.ts";
import { errorMessage } from "../../lib/protocol/error_message.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { TokenBucket } from "../../lib/server/token_bucket.ts";
import { realClock } from "../../lib/util/clock.ts";

export interface UnadvertisedLimitOptions {
  perSecond: number;
  burst: number;
  /** A line refused whatever the bucket says. */
  alwaysRefused?: string;
  /** Welcomes, then answers nothing. @default false */
  silent?: boolean;
  /** The guest name its Welcome gives, as a hostile server might choose it. @default "guest-1" */
  nickname?: string;
}

/**
 * A chat server as they were before Welcome advertised the rate limit: it limits
 * chat with a token bucket all the same, and refuses what is over it with
 * RATE_LIMITED. On a free loopback port, every connection is session 1, alone:
 * each chat line accepted is broadcast back to its sender and recorded.
 */
export class UnadvertisedLimitServer implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #serving: Promise<void>;
  readonly #conns = new Set<Deno.Conn>();
  /** The chat lines accepted, in order. */
  readonly accepted: string[] = [];
  /** How many chat lines were refused. */
  refused = 0;

  readonly #options: UnadvertisedLimitOptions;

  constructor(options: UnadvertisedLimitOptions) {
    this.#options = options;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#serving = this.#accept();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    const { perSecond, burst } = this.#options;
    const sessions: Promise<void>[] = [];
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        sessions.push(this.#serve(conn, new TokenBucket(perSecond, burst, realClock)));
      }
    } catch {
      // Closed by dispose.
    }
    await Promise.all(sessions);
  }

  async #serve(conn: Deno.Conn, bucket: TokenBucket): Promise<void> {
    const replies: ServerMessageInit[] = [];
    const reply = (message: ServerMessageInit) => replies.push(message);
    reply({
      body: {
        case: "welcome",
        value: {
          sessionId: 1n,
          nickname: this.#options.nickname ?? "guest-1",
          server: "unadvertised-limit-test-server",
          maxFrameBytes: 65536,
          maxContentBytes: 4096,
          online: 1,
        },
      },
    });
    const decoder = new FrameDecoder(65536);
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        await writeAll(conn, encodeFrames(replies.splice(0).map(encodeServerMessage)));
        const count = await conn.read(buffer);
        if (count === null) break;
        decoder.push(buffer.subarray(0, count), (payload) => {
          if (this.#options.silent) return;
          const body = decodeClientMessage(payload).body;
          if (body.case === "hello" && body.value.nickname !== "") {
            const { nickname } = body.value;
            reply({
              body: {
                case: "presence",
                value: { kind: PresenceKind.RENAMED, sessionId: 1n, nickname, online: 1 },
              },
            });
          } else if (
            body.case === "chat" && body.value.content !== this.#options.alwaysRefused &&
            bucket.take()
          ) {
            this.accepted.push(body.value.content);
            reply({
              body: {
                case: "chat",
                value: {
                  action: Action.BROADCAST,
                  content: body.value.content,
                  fromSessionId: 1n,
                  fromNickname: "guest-1",
                  clientSeq: body.value.clientSeq,
                },
              },
            });
          } else if (body.case === "chat") {
            this.refused++;
            reply(errorMessage(ErrorCode.RATE_LIMITED, "Too fast", body.value.clientSeq));
          }
        });
      }
    } catch {
      // A reset ends the session like a close.
    } finally {
      if (this.#conns.delete(conn)) conn.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) conn.close();
    this.#conns.clear();
    await this.#serving;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}
