import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { describeError } from "../util/describe_error.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { encodeServerMessage } from "../protocol/codec.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { VERSION } from "../version.ts";
import { ListenError } from "./errors.ts";
import { handleFrame, type HandlerContext } from "./handlers.ts";
import { Hub } from "./hub.ts";
import { createLogger, type Logger } from "./logger.ts";
import { guestNickname } from "../protocol/nickname.ts";
import { DEFAULT_SERVER_OPTIONS, type ServerOptions } from "./options.ts";
import { Session } from "./session.ts";
import { TcpTransport } from "../net/tcp_transport.ts";
import type { Transport } from "../net/transport.ts";

export const SERVER_NAME = `deno-chat-server/${VERSION}`;

/** How long the accept loop rests after an accept error (out of file descriptors, say). */
const ACCEPT_RETRY_MS = 100;

/**
 * The chat server: accepts connections, keeps the session pool, and wires each
 * session's frames to the handlers and the hub.
 */
export class ChatServer implements AsyncDisposable {
  readonly options: Readonly<ServerOptions>;
  /** Where it listens; the port is the real one when 0 was asked for. */
  readonly address: Deno.NetAddr;
  readonly hub = new Hub();
  readonly #listener: Deno.TcpListener;
  readonly #logger: Logger;
  readonly #sessions = new Map<bigint, Session>();
  readonly #running = new Set<Promise<void>>();
  readonly #acceptLoop: Promise<void>;
  #nextSessionId = 1n;
  #shutdown: Promise<void> | undefined;

  /** Starts listening at once. Throws ListenError with a plain-words reason. */
  constructor(options: Partial<ServerOptions> = {}, logger?: Logger) {
    this.options = { ...DEFAULT_SERVER_OPTIONS, ...options };
    this.#logger = logger ??
      createLogger({ format: this.options.logFormat, quiet: this.options.quiet });
    this.#listener = listen(this.options.host, this.options.port);
    this.address = this.#listener.addr;
    this.#logger.log(
      "notice",
      "listening",
      `listening on ${formatHostPort(this.address.hostname, this.address.port)}`,
      { host: this.address.hostname, port: this.address.port },
    );
    this.#acceptLoop = this.#accept();
  }

  /** Sessions connected now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Stops in stages: no new connections, SHUTTING_DOWN to every session, queued
   * frames flushed for up to `shutdownTimeoutSeconds`, then every connection closed.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #stop(): Promise<void> {
    this.#listener.close();
    await this.#acceptLoop;
    const timeoutMs = this.options.shutdownTimeoutSeconds * 1000;
    this.#logger.log("notice", "shutting_down", `shutting down: ${this.#sessions.size} sessions`, {
      sessions: this.#sessions.size,
    });
    const farewell = encodeServerMessage(
      errorMessage(ErrorCode.SHUTTING_DOWN, "The server is shutting down"),
    );
    for (const session of this.#sessions.values()) {
      session.end("server shutting down", farewell, timeoutMs);
    }
    // Sessions close themselves within the timeout; the margin covers the last closes.
    await waitAtMost(Promise.all(this.#running), timeoutMs + 1000);
    this.#logger.log("notice", "stopped", "stopped");
  }

  async #accept(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#shutdown !== undefined || error instanceof Deno.errors.BadResource) return;
        this.#logger.log(
          "warn",
          "accept_failed",
          `accept failed: ${describeError(error)}; retrying`,
        );
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      const transport = new TcpTransport(conn, this.options.maxFrameBytes);
      const running = this.#sessions.size >= this.options.maxConnections
        ? this.#refuse(transport)
        : this.#serve(transport);
      this.#running.add(running);
      running.finally(() => this.#running.delete(running));
    }
  }

  async #refuse(transport: Transport): Promise<void> {
    const session = new Session(0n, "", transport);
    const running = session.run(() => {}, () => {});
    session.end(
      "server full",
      encodeServerMessage(errorMessage(
        ErrorCode.SERVER_FULL,
        `The server is full (${this.options.maxConnections} connections); try again later`,
      )),
      this.options.shutdownTimeoutSeconds * 1000,
    );
    await running;
    this.#logger.log("warn", "refused", `refused ${transport.peer}: server full`, {
      peer: transport.peer,
    });
  }

  async #serve(transport: Transport): Promise<void> {
    const id = this.#nextSessionId++;
    const session = new Session(id, guestNickname(id), transport);
    const before = this.#sessions.size;
    this.#sessions.set(id, session);
    // Welcome goes first: nothing else can be queued before join() returns.
    session.send(encodeServerMessage({
      body: {
        case: "welcome",
        value: {
          sessionId: id,
          nickname: session.nickname,
          server: SERVER_NAME,
          maxFrameBytes: this.options.maxFrameBytes,
          maxContentBytes: this.options.maxContentBytes,
          online: this.hub.online + 1,
        },
      },
    }));
    this.hub.join(session, session.nickname);
    this.#logger.log(
      "info",
      "connect",
      `connected ${transport.peer} as ${session.nickname} (sessions ${before}->${this.#sessions.size})`,
      {
        peer: transport.peer,
        session_id: id,
        nickname: session.nickname,
        sessions: this.#sessions.size,
      },
    );

    const context = this.#handlerContext(session);
    const reason = await session.run(
      (payload) => handleFrame(context, payload),
      (error) => {
        const tooLarge = encodeServerMessage(
          errorMessage(ErrorCode.FRAME_TOO_LARGE, error.message),
        );
        session.end("frame too large", tooLarge, this.options.shutdownTimeoutSeconds * 1000);
      },
    );

    this.hub.leave(session);
    this.#sessions.delete(id);
    this.#logger.log(
      "info",
      "disconnect",
      `disconnected ${transport.peer} ${session.nickname}: ${reason} (sessions ${
        this.#sessions.size + 1
      }->${this.#sessions.size})`,
      {
        peer: transport.peer,
        session_id: id,
        nickname: session.nickname,
        reason,
        sessions: this.#sessions.size,
      },
    );
  }

  #handlerContext(session: Session): HandlerContext {
    const { hub, options } = this;
    const logger = this.#logger;
    return {
      sessionId: session.id,
      get nickname() {
        return session.nickname;
      },
      maxContentBytes: options.maxContentBytes,
      reply: (message) => session.send(encodeServerMessage(message)),
      broadcast: (message) => hub.broadcast(message),
      rename(nickname) {
        const previous = session.nickname;
        if (!hub.rename(session, nickname)) return false;
        session.nickname = nickname;
        logger.log("info", "rename", `${previous} is now ${nickname} (${session.transport.peer})`, {
          session_id: session.id,
          nickname,
          previous_nickname: previous,
        });
        return true;
      },
      setClientName(name) {
        session.clientName = name;
      },
      who: () => hub.who(),
      now: () => Date.now(),
    };
  }
}

function listen(hostname: string, port: number): Deno.TcpListener {
  try {
    return Deno.listen({ hostname, port, transport: "tcp" });
  } catch (error) {
    throw new ListenError(
      `Cannot listen on ${formatHostPort(hostname, port)}: ${listenFailure(error)}`,
      { cause: error },
    );
  }
}

function listenFailure(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) return "address already in use";
  if (error instanceof Deno.errors.AddrNotAvailable) return "address not available on this machine";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return describeError(error);
}
