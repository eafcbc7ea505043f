import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { describeError } from "../util/describe_error.ts";
import { countNoun } from "../util/count_noun.ts";
import { TaskGroup } from "../util/task_group.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { encodeServerMessage } from "../protocol/codec.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { VERSION } from "../version.ts";
import { ListenError } from "./errors.ts";
import { Hub } from "./hub.ts";
import type { SessionContextShared } from "./session_context.ts";
import { ServedSession } from "./served_session.ts";
import type { Backplane } from "./backplane.ts";
import { LocalBackplane } from "./local_backplane.ts";
import type { HistoryStore } from "./history/history_store.ts";
import { NullHistory } from "./history/null_history.ts";
import { type AccountStore, NoAccounts } from "./accounts/account_store.ts";
import { Accounts } from "./accounts/accounts.ts";
import { FailedLogins } from "./accounts/failed_logins.ts";
import { createLogger, type Logger } from "./logger.ts";
import { DEFAULT_SERVER_OPTIONS, type ServerOptions } from "./options.ts";
import {
  ServerCounters,
  type ServerStats,
  type SessionTotals,
  statsFields,
} from "./server_counters.ts";
import { Session, type SessionLimits } from "./session.ts";
import { realClock } from "../util/clock.ts";
import { EventLoopLag } from "./event_loop_lag.ts";
import { acceptLoop } from "./accept_loop.ts";
import { ConnectionsPerAddress } from "./connections_per_address.ts";
import { TcpTransport } from "../net/tcp_transport.ts";
import { isTls, type StreamConn, type TlsStream } from "../net/stream_conn.ts";
import { listenStream, type StreamListener } from "../net/listen_stream.ts";
import { TLS_ON_PLAIN_PORT } from "../net/tls_hello.ts";
import { BurstLog } from "./burst_log.ts";
import { acceptHandshake } from "./tls_handshake.ts";
import type { Transport } from "../net/transport.ts";
import { formatHostPort } from "../net/format_host_port.ts";

export const SERVER_NAME = `deno-chat-server/${VERSION}`;

/** Refusals (SERVER_FULL) being sent at once; past this, extra connections are just closed. */
const MAX_REFUSALS_IN_PROGRESS = 64;

/**
 * How long a TLS connection may wait, once its handshake is done, for a first byte before it
 * becomes a session. One that closes first read the certificate and left (a client pinning
 * a fingerprint probes it so): it never shows as a guest who came and went. A client that
 * waits for the Welcome gets it this much later, once.
 */
const PROBE_GRACE_MS = 500;

/** In a cluster, session ids are `local counter * NODE_ID_SPACE + node`, unique across servers. */
export const NODE_ID_SPACE = 1000;

/**
 * How often, with --require-account, the server checks that each session's account still
 * exists: a deleted account's session is cut within this.
 */
const ACCOUNT_RECHECK_MS = 5000;

/**
 * The chat server: accepts connections, keeps the session pool, and wires each
 * session's frames to the handlers and the hub.
 */
export class ChatServer implements AsyncDisposable {
  readonly options: Readonly<ServerOptions>;
  /** Where it listens; the port is the real one when 0 was asked for. */
  readonly address: Deno.NetAddr;
  /**
   * Resolves once connections are taken: at once on plain TCP, a moment later over TLS.
   * Rejects with a ListenError when the port was lost in that moment.
   */
  readonly ready: Promise<void>;
  readonly hub: Hub;
  readonly #backplane: Backplane;
  readonly #history: HistoryStore;
  readonly #accountStore: AccountStore;
  /** Sessions that have to identify (--require-account), and by when (realClock). */
  readonly #identifyBy = new Map<Session, number>();
  readonly #listener: StreamListener;
  readonly #logger: Logger;
  readonly #sessions = new Map<bigint, Session>();
  /** The connections' tasks, for the shutdown to wait on; a failure is logged, never thrown. */
  readonly #connectionTasks = new TaskGroup((error) => {
    this.#logger.log("error", "session_failed", `unexpected error: ${describeError(error)}`);
  });
  readonly #acceptLoop: Promise<void>;
  readonly #connectionsPerIp = new ConnectionsPerAddress();
  /**
   * Connections held: the sessions, and those whose sockets are still closing (a WebSocket
   * in its close handshake). The caps count these, not the sessions: a socket holds its
   * file descriptor until it is really closed.
   */
  #connections = 0;
  readonly #counters = new ServerCounters();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #eventLoopLag = new EventLoopLag();
  readonly #contextShared: SessionContextShared;
  readonly #sessionLimits: SessionLimits;
  /** TLS connections whose handshake is under way: a shutdown cuts them. */
  readonly #handshaking = new Set<TlsStream>();
  readonly #handshakeFailures: BurstLog;
  readonly #plainPortMismatches: BurstLog;
  #sessionCount = 0n;
  #recheckingAccounts = false;
  #refusing = 0;
  #shutdown: Promise<void> | undefined;

  /**
   * Starts listening at once. Throws ListenError with a plain-words reason. The server
   * owns `backplane`, `history` and `accounts` from then on, and closes them on shutdown.
   */
  constructor(
    options: Partial<ServerOptions> = {},
    logger?: Logger,
    backplane: Backplane = new LocalBackplane(),
    history: HistoryStore = new NullHistory(),
    accounts: AccountStore = new NoAccounts("This server keeps no accounts"),
  ) {
    this.options = { ...DEFAULT_SERVER_OPTIONS, ...options };
    this.#logger = logger ??
      createLogger({ format: this.options.logFormat, quiet: this.options.quiet });
    this.#backplane = backplane;
    this.#history = history;
    this.#accountStore = accounts;
    this.#handshakeFailures = new BurstLog(this.#logger, "tls_handshake_failed");
    this.#plainPortMismatches = new BurstLog(this.#logger, "tls_on_plain_port");
    this.#listener = listen(this.options);
    // Half the slow-consumer limit: a client that reads, however slowly, is waited for.
    this.hub = new Hub(backplane, this.options.presenceLimit, this.options.maxQueueBytes / 2, {
      history,
      maxRooms: this.options.maxRooms,
    });
    this.#contextShared = {
      hub: this.hub,
      logger: this.#logger,
      counters: this.#counters,
      maxContentBytes: this.options.maxContentBytes,
      history,
      historyOnJoin: this.options.historyOnJoin,
      historySize: this.options.historySize,
      accounts: new Accounts(
        accounts,
        new FailedLogins({ limitLoopback: this.options.limitLoopback }, this.#logger),
        { maxAccounts: this.options.maxAccounts, limitLoopback: this.options.limitLoopback },
      ),
      allowPlaintextPasswords: this.options.allowPlaintextPasswords,
      requireAccount: this.options.requireAccount,
    };
    this.#sessionLimits = sessionLimits(this.options);
    // Not announced here: the program says "listening on" once all its ports are open.
    this.address = this.#listener.addr;
    this.ready = listenerReady(this.#listener, this.options.host);
    this.#acceptLoop = acceptLoop(
      "chat",
      this.#listener,
      (conn) => this.#accepted(conn),
      this.#logger,
      () => this.#shutdown !== undefined,
    );
    this.#timers.push(setInterval(() => this.#enforceDeadlines(), this.#deadlineCheckMs));
    if (this.options.requireAccount) {
      this.#timers.push(setInterval(() => this.#recheckAccounts(), ACCOUNT_RECHECK_MS));
    }
    if (this.options.statsIntervalSeconds > 0) {
      this.#timers.push(
        setInterval(() => this.logStats(), this.options.statsIntervalSeconds * 1000),
      );
    }
  }

  /** The counters now. */
  stats(): ServerStats {
    const sessions = [...this.#sessions.values()];
    const byTransport: Record<string, number> = { tcp: 0, websocket: 0 };
    for (const session of sessions) byTransport[session.transport.kind]++;
    return this.#counters.snapshot(
      sessions.map(sessionTotals),
      byTransport,
      this.#eventLoopLag.lagMs,
      this.#connections,
      this.hub.online,
      this.#backplane.stats(),
      this.hub.fanoutStats(),
      this.#history.stats(),
    );
  }

  /** Writes the counters to the log as one line. */
  logStats(): void {
    const stats = this.stats();
    const sessions = countNoun(stats.sessions, "session");
    this.#logger.log(
      "notice",
      "stats",
      `stats: ${sessions}, ${stats.framesIn} frames in, ${stats.framesOut} out, ` +
        `rss ${(stats.rssBytes / 1048576).toFixed(1)} MiB`,
      statsFields(stats),
    );
  }

  /** Checks often enough for the shortest deadline, and at least every second. */
  get #deadlineCheckMs(): number {
    const { idleTimeoutSeconds, frameTimeoutSeconds, writeTimeoutSeconds } = this.options;
    const shortest = Math.min(idleTimeoutSeconds, frameTimeoutSeconds, writeTimeoutSeconds) * 1000;
    return Math.max(50, Math.min(1000, shortest / 4));
  }

  #enforceDeadlines(): void {
    const now = realClock.now();
    const readsAllowedSince = this.hub.readsAllowedSince;
    for (const session of this.#sessions.values()) {
      session.enforceDeadlines(now, readsAllowedSince);
    }
    for (const [session, by] of this.#identifyBy) {
      if (session.isClosing || this.hub.localUser(session.id) !== undefined) {
        this.#identifyBy.delete(session);
      } else if (now > by) {
        this.#identifyBy.delete(session);
        session.end(
          "did not identify",
          encodeServerMessage(errorMessage(
            ErrorCode.AUTH_REQUIRED,
            `Only registered users may use this server, and you did not identify within ${this.options.frameTimeoutSeconds} s`,
          )),
        );
      }
    }
  }

  /**
   * Cuts the sessions let in with an account that is gone: `server accounts delete` runs in
   * another process, which cannot tell the server, so the server looks. One look per
   * session at a time; one that fails (storage out of reach) cuts nobody.
   */
  async #recheckAccounts(): Promise<void> {
    if (this.#recheckingAccounts) return;
    this.#recheckingAccounts = true;
    try {
      for (const session of [...this.#sessions.values()]) {
        const key = session.admittedBy;
        if (key === undefined || session.isClosing) continue;
        if (await this.#contextShared.accounts.exists(key).catch(() => true)) continue;
        session.end(
          "account deleted",
          encodeServerMessage(errorMessage(
            ErrorCode.AUTH_REQUIRED,
            "Your account was deleted by the server's operator; only registered users may use this server",
          )),
        );
      }
    } finally {
      this.#recheckingAccounts = false;
    }
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
    for (const timer of this.#timers) clearInterval(timer);
    this.#eventLoopLag.stop();
    this.#listener.close();
    await this.#acceptLoop;
    for (const conn of this.#handshaking) conn.close();
    this.#logger.log(
      "notice",
      "shutting_down",
      `shutting down: ${countNoun(this.#sessions.size, "session")}`,
      { sessions: this.#sessions.size },
    );
    const farewell = encodeServerMessage(
      errorMessage(ErrorCode.SHUTTING_DOWN, "The server is shutting down"),
    );
    for (const session of this.#sessions.values()) session.end("server shutting down", farewell);
    // Every session closes itself within the close timeout; this is only a backstop.
    await waitAtMost(
      this.#connectionTasks.idle(),
      this.options.shutdownTimeoutSeconds * 1000 + 1000,
    );
    this.hub[Symbol.dispose]();
    await this.#backplane[Symbol.asyncDispose]();
    await this.#history[Symbol.asyncDispose]();
    await this.#accountStore[Symbol.asyncDispose]();
    this.#logger.log("notice", "stopped", "stopped");
  }

  #accepted(conn: StreamConn): void {
    if (isTls(conn)) {
      this.#connectionTasks.add(this.#acceptTls(conn));
      return;
    }
    const transport = this.#transport(conn);
    if (transport !== undefined) this.serve(transport);
  }

  #transport(conn: StreamConn): Transport | undefined {
    try {
      return new TcpTransport(conn, this.options.maxFrameBytes);
    } catch {
      // Reset before we could set it up.
      conn.close();
      return undefined;
    }
  }

  /**
   * A TLS connection holds its connection slot from accept, and has --frame-timeout to
   * finish its handshake: handshakes that never finish fill the caps, not the server. Only
   * then does it become a session, or get its refusal (when one can be afforded).
   */
  async #acceptTls(conn: TlsStream): Promise<void> {
    const ip = conn.remoteAddr.hostname;
    const refusal = this.refusal(ip);
    if (refusal !== undefined && this.#refusing >= MAX_REFUSALS_IN_PROGRESS) {
      this.#counters.connectionsRefused++;
      conn.close();
      return;
    }
    if (refusal === undefined) this.#hold(ip);
    else this.#refusing++;
    this.#handshaking.add(conn);
    const failure = await acceptHandshake(conn, this.options.frameTimeoutSeconds * 1000);
    this.#handshaking.delete(conn);
    let transport: Transport | undefined;
    if (failure !== undefined) {
      // A shutdown cut it: nothing to report.
      if (this.#shutdown === undefined) {
        const peer = formatHostPort(ip, conn.remoteAddr.port);
        this.#handshakeFailures.warn(`TLS handshake failed from ${peer}: ${failure}`, { peer });
      }
    } else if (this.#shutdown !== undefined || !(await conn.firstInput?.(PROBE_GRACE_MS) ?? true)) {
      conn.close();
    } else transport = this.#transport(conn);
    if (refusal !== undefined) {
      this.#refusing--;
      if (transport === undefined) this.#counters.connectionsRefused++;
      else await this.#refuse(transport, refusal);
    } else if (transport === undefined) this.#release(ip);
    else await this.#serve(transport);
  }

  /**
   * Takes a new connection, from the TCP listener or another gateway (WebSocket):
   * it becomes a session, or is refused when the server or its address is full.
   */
  serve(transport: Transport): void {
    if (this.#shutdown !== undefined) {
      transport.close();
      return;
    }
    const refusal = this.refusal(transport.remoteHostname);
    if (refusal === undefined) {
      this.#hold(transport.remoteHostname);
      this.#connectionTasks.add(this.#serve(transport));
    } else if (this.#refusing < MAX_REFUSALS_IN_PROGRESS) {
      this.#connectionTasks.add(this.#refuse(transport, refusal));
    } else {
      this.#counters.connectionsRefused++;
      transport.close();
    }
  }

  /** Why a new connection from `hostname` cannot be served now, or undefined when it can. */
  refusal(hostname: string): string | undefined {
    if (this.#shutdown !== undefined) return "The server is shutting down";
    const { maxConnections } = this.options;
    if (this.#connections >= maxConnections) {
      return `The server is full (${countNoun(maxConnections, "connection")}); try again later`;
    }
    return this.#connectionsPerIp.refusal(hostname, this.options);
  }

  /**
   * Counts and logs a connection that a gateway turned away itself, as /ws does with a 503
   * before the upgrade, for `refusal`'s reason.
   */
  refused(peer: Deno.NetAddr, kind: Transport["kind"], why: string): void {
    this.#counters.connectionsRefused++;
    const address = formatHostPort(peer.hostname, peer.port);
    this.#logger.log("warn", "refused", `refused ${address} (${kind}): ${why}`, {
      peer: address,
      transport: kind,
    });
  }

  async #refuse(transport: Transport, why: string): Promise<void> {
    this.#refusing++;
    this.#counters.connectionsRefused++;
    try {
      const session = new Session(0n, "", transport, this.#sessionLimits, {
        frame() {},
        framingError() {},
        closing() {},
      });
      const running = session.run();
      session.end("refused", encodeServerMessage(errorMessage(ErrorCode.SERVER_FULL, why)));
      await running;
      this.#logger.log(
        "warn",
        "refused",
        `refused ${transport.peer} (${transportLabel(transport)}): ${why}`,
        {
          peer: transport.peer,
          transport: transport.kind,
        },
      );
    } finally {
      this.#refusing--;
    }
  }

  /** Takes a connection slot (toward the caps) for a connection from `ip`. */
  #hold(ip: string): void {
    this.#connections++;
    this.#connectionsPerIp.add(ip);
  }

  #release(ip: string): void {
    this.#connections--;
    this.#connectionsPerIp.remove(ip);
  }

  /** Serves a session on a connection whose slot is held (`#hold`), and lets the slot go. */
  async #serve(transport: Transport): Promise<void> {
    const id = this.#newSessionId();
    const before = this.#sessions.size;
    const served = new ServedSession(id, transport, this.#sessionLimits, this.#contextShared);
    const session = served.session;
    this.#sessions.set(id, session);
    this.#counters.sessionsOpened++;
    const ip = transport.remoteHostname;
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
          online: this.hub.online + (this.options.requireAccount ? 0 : 1),
          // Advertised so that clients pace themselves rather than have lines refused.
          rateLimitPerSecond: this.options.rateLimitPerSecond,
          rateBurst: this.options.rateLimitPerSecond > 0 ? this.options.rateBurst : 0,
          passwordsAccepted: transport.encrypted || this.options.allowPlaintextPasswords,
          accountRequired: this.options.requireAccount,
        },
      },
    }));
    // Nobody sees a session that has to identify first: it joins once it has (Hub.admit).
    if (this.options.requireAccount) {
      this.#identifyBy.set(session, realClock.now() + this.options.frameTimeoutSeconds * 1000);
    } else this.hub.join(session);
    this.#logger.log(
      "info",
      "connect",
      `connected ${transport.peer} (${transportLabel(transport)}) as ${session.nickname} ` +
        `(sessions ${before}->${this.#sessions.size})`,
      {
        peer: transport.peer,
        transport: transport.kind,
        session_id: id,
        nickname: session.nickname,
        sessions: this.#sessions.size,
      },
    );

    let reason: string;
    try {
      reason = await session.run();
    } finally {
      await served.framesHandled();
      this.hub.leave(session);
      this.#sessions.delete(id);
      // Counted until its socket is closed, which close() may leave to a bounded handshake.
      // A task of its own, so that a shutdown waits for it too.
      this.#connectionTasks.add(
        (transport.released ?? Promise.resolve()).then(() => this.#release(ip)),
      );
    }
    this.#counters.sessionClosed(reason, sessionTotals(session));
    if (reason === TLS_ON_PLAIN_PORT) {
      this.#plainPortMismatches.warn(`${TLS_ON_PLAIN_PORT}: ${transport.peer}`, {
        peer: transport.peer,
      });
    }
    this.#logger.log(
      "info",
      "disconnect",
      `disconnected ${transport.peer} (${
        transportLabel(transport)
      }) ${session.nickname}: ${reason} ` +
        `(sessions ${this.#sessions.size + 1}->${this.#sessions.size})`,
      {
        peer: transport.peer,
        transport: transport.kind,
        session_id: id,
        nickname: session.nickname,
        // Hello.client, which the protocol says is for the server's log.
        client: session.clientName || undefined,
        reason,
        sessions: this.#sessions.size,
      },
    );
  }

  /** Unique in the cluster: the backplane's node number is folded in. */
  #newSessionId(): bigint {
    const local = ++this.#sessionCount;
    const node = this.#backplane.node;
    return node === 0 ? local : local * BigInt(NODE_ID_SPACE) + BigInt(node);
  }
}

function sessionLimits(options: Readonly<ServerOptions>): SessionLimits {
  return {
    maxQueueBytes: options.maxQueueBytes,
    writeTimeoutMs: options.writeTimeoutSeconds * 1000,
    idleTimeoutMs: options.idleTimeoutSeconds * 1000,
    frameTimeoutMs: options.frameTimeoutSeconds * 1000,
    closeTimeoutMs: options.shutdownTimeoutSeconds * 1000,
    rateLimitPerSecond: options.rateLimitPerSecond,
    rateBurst: options.rateBurst,
    renameLimitPerMinute: options.renameLimitPerMinute,
  };
}

function listen(
  { host: hostname, port, reusePort, tls }: Readonly<ServerOptions>,
): StreamListener {
  try {
    return listenStream({ hostname, port, reusePort, tls });
  } catch (error) {
    throw ListenError.from(hostname, port, error);
  }
}

function sessionTotals(session: Session): SessionTotals {
  return {
    framesIn: session.framesIn,
    framesOut: session.framesOut,
    bytesIn: session.transport.bytesRead,
    bytesOut: session.transport.bytesWritten,
  };
}

/** A listener's `ready`, with a failure said as a ListenError (for the program to report). */
export async function listenerReady(listener: StreamListener, hostname: string): Promise<void> {
  try {
    await listener.ready;
  } catch (error) {
    throw ListenError.from(hostname, listener.addr.port, error);
  }
}

/** "tcp", "tcp+tls", "websocket", "websocket+tls": how a connection came, for the log. */
function transportLabel(transport: Transport): string {
  return transport.encrypted ? `${transport.kind}+tls` : transport.kind;
}
