import { DEFAULT_MAX_CONTENT_BYTES, DEFAULT_MAX_FRAME_BYTES } from "../protocol/limits.ts";

/**
 * How the server runs. Every field has a default, so `{}` is a working server; the
 * command line, the README's limits table and Welcome all read from here.
 */
export interface ServerOptions {
  /** The address to listen on. @default "0.0.0.0" (every interface) */
  host: string;
  /** The TCP port; 0 picks a free one. @default 8080, as the original program */
  port: number;
  /**
   * The certificate and key (PEM text) to serve TLS with, on the chat port and the HTTP
   * port (HTTPS, so that the page uses wss://). Undefined: plain text. @default undefined
   */
  tls: TlsCertificate | undefined;
  /**
   * Takes passwords (registering, identifying) over connections that are not encrypted:
   * anyone on the way can read them. Off: a password comes over TLS only, or is refused
   * with PASSWORD_NOT_ENCRYPTED unread. For a LAN, or a reverse proxy on this host that
   * ends the TLS. @default false
   */
  allowPlaintextPasswords: boolean;
  /**
   * Only registered users may use the server: a connection must identify (Hello with a
   * registered nickname and its password) within frameTimeoutSeconds, and is seen by
   * nobody until then; anything else ends it with AUTH_REQUIRED. Accounts are made with
   * `server accounts add`. @default false (guests welcome)
   */
  requireAccount: boolean;
  /**
   * Accounts the server lets its users register, in all (a cluster's, with redisUrl);
   * registering past it is refused. `server accounts add` is not bound by it. @default 100000
   */
  maxAccounts: number;
  /**
   * Serves TLS with a certificate of the server's own, made at start (or the one kept in
   * dataDir from an earlier start) for localhost, this host's name and addresses, and
   * `tlsNames`; the program sets `tls` from it. @default false
   */
  tlsSelfSigned: boolean;
  /** With tlsSelfSigned: more host names or addresses for its certificate. @default [] */
  tlsNames: string[];
  /** The HTTP port for the browser page, /ws, /healthz and /metrics; 0 turns HTTP off. @default 8081 */
  httpPort: number;
  /**
   * Origins whose pages may open /ws ("*" for any). Undefined: the server's own
   * host and localhost, which guards against cross-site WebSocket hijacking. @default undefined
   */
  allowedOrigins: string[] | undefined;
  /**
   * The largest frame payload accepted; a larger one closes the connection. A WebSocket
   * message over it is refused by its announced length, before its bytes are read. @default 65536
   */
  maxFrameBytes: number;
  /** The largest Chat.content, in UTF-8 bytes. @default 4096 */
  maxContentBytes: number;
  /** Connections served at once; one more gets SERVER_FULL. @default 10000 */
  maxConnections: number;
  /** Connections from one IP address; one more gets SERVER_FULL. @default 256 */
  maxConnectionsPerIp: number;
  /**
   * Applies the per-IP cap to loopback addresses too. Off by default, as ergo
   * exempts localhost: local tools and tests open many connections. @default false
   */
  limitLoopback: boolean;
  /**
   * Connections to the HTTP port at once, before any becomes a WebSocket (which then
   * counts toward maxConnections instead); one more gets a 503. Counted beside the chat
   * connections, with the per-IP cap applied to them apart. Loopback connections past it
   * may still ask for /healthz and /metrics, OPERATOR_HEADROOM of them. @default 1000
   */
  maxHttpConnections: number;
  /** Seconds a request's head may take to arrive on the HTTP port (slowloris); then it closes. @default 10 */
  httpHeaderTimeoutSeconds: number;
  /** Seconds a kept-alive HTTP connection may wait for its next request; then it closes. @default 5 */
  httpIdleTimeoutSeconds: number;
  /**
   * Seconds a WebSocket peer has to answer our close frame; then its socket is aborted. Until
   * then it counts toward maxConnections and the per-IP cap. @default 5
   */
  closeHandshakeTimeoutSeconds: number;
  /** Bytes waiting to be written to one client beyond which it is cut with SLOW_CONSUMER. @default 4 MiB */
  maxQueueBytes: number;
  /** Seconds one write to a client may stall before it is cut with SLOW_CONSUMER. @default 10 */
  writeTimeoutSeconds: number;
  /**
   * Chat messages a session may send per second, on average; 0 turns the limit off
   * (for benchmarks). Generous for people, a wall for floods. @default 20
   */
  rateLimitPerSecond: number;
  /** Chat messages a session may send at once before the rate applies. @default 50 */
  rateBurst: number;
  /**
   * Nickname changes a session may make per minute, after a burst of RENAME_BURST; 0 turns
   * the limit off. Each one is announced to everyone (and, in a cluster, costs Redis a
   * claim and a stream entry), so the chat limit alone left a flood of renames free. @default 6
   */
  renameLimitPerMinute: number;
  /** Seconds without a frame from a client before IDLE_TIMEOUT; clients ping every 30 s. @default 120 */
  idleTimeoutSeconds: number;
  /** Seconds a frame may take to arrive once begun (slowloris). @default 30 */
  frameTimeoutSeconds: number;
  /** Seconds a shutdown waits for queued frames to be written before it closes anyway. @default 10 */
  shutdownTimeoutSeconds: number;
  /** Seconds between counter lines in the log; 0 for none. SIGUSR2 asks for one at any time. @default 0 */
  statsIntervalSeconds: number;
  /** @default "text" */
  logFormat: "text" | "json";
  /**
   * Users online (in the whole cluster) past which JOINED and LEFT notices stop: each
   * arrival would otherwise cost a frame to everyone, N² frames for N arrivals. RENAMED,
   * Welcome.online and `who` go on. @default 1000
   */
  presenceLimit: number;
  /** Leaves out the per-connection lines; start-up, shutdown and problems are still logged. @default false */
  quiet: boolean;
  /**
   * The folder of the SQLite file (history.sqlite3) of room history and accounts, made if
   * missing; with --history-size 0, made by the first registration only. Relative to the
   * working directory: for a double-clicked server.exe, the folder it sits in.
   * @default "chat-data"
   */
  dataDir: string;
  /** Messages kept per room; 0 turns history off (nothing is stored or numbered). @default 1000 */
  historySize: number;
  /** Days a message is kept at most; 0 for no age limit. @default 0 */
  historyDays: number;
  /** Messages of a room's history sent to a client that joins it (one that asks). @default 50 */
  historyOnJoin: number;
  /**
   * Rooms this server holds at once (each has a log and a member list); a join that would
   * create one more is refused with ROOM_LIMIT. @default 10000
   */
  maxRooms: number;
  /**
   * Joins a cluster of servers through this Redis (`redis://host:port[/db]`): broadcasts,
   * presence, `who` and nicknames then span every server. @default undefined (runs alone)
   */
  redisUrl: string | undefined;
  /**
   * With a `rediss://` redisUrl: CA certificates (PEM text) to trust for Redis besides the
   * system's, for a Redis whose certificate a private CA signed. @default undefined
   */
  redisCa: string | undefined;
  /** With redisUrl: seconds before a crashed server's users leave the others' `who`. @default 10 */
  clusterExpirySeconds: number;
  /**
   * Threads serving clients, each with its own ChatServer on the same TCP port (Linux's
   * SO_REUSEPORT shares the connections out); more than 1 needs Deno's `--unstable-net`.
   * Elsewhere the server runs 1. @default 1
   */
  workers: number;
  /**
   * Listens with SO_REUSEPORT, so that several listeners share the port. Not an option of
   * the command line: `workers` sets it for each of its threads. Linux only, and needs
   * `--unstable-net`. @default false
   */
  reusePort: boolean;
}

export const DEFAULT_SERVER_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  host: "0.0.0.0",
  port: 8080,
  httpPort: 8081,
  tls: undefined,
  allowPlaintextPasswords: false,
  requireAccount: false,
  maxAccounts: 100_000,
  tlsSelfSigned: false,
  tlsNames: [],
  allowedOrigins: undefined,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxContentBytes: DEFAULT_MAX_CONTENT_BYTES,
  maxConnections: 10000,
  maxConnectionsPerIp: 256,
  limitLoopback: false,
  maxHttpConnections: 1000,
  httpHeaderTimeoutSeconds: 10,
  httpIdleTimeoutSeconds: 5,
  closeHandshakeTimeoutSeconds: 5,
  maxQueueBytes: 4 * 1024 * 1024,
  writeTimeoutSeconds: 10,
  rateLimitPerSecond: 20,
  rateBurst: 50,
  renameLimitPerMinute: 6,
  idleTimeoutSeconds: 120,
  frameTimeoutSeconds: 30,
  shutdownTimeoutSeconds: 10,
  statsIntervalSeconds: 0,
  logFormat: "text",
  quiet: false,
  dataDir: "chat-data",
  historySize: 1000,
  historyDays: 0,
  historyOnJoin: 50,
  maxRooms: 10000,
  presenceLimit: 1000,
  redisUrl: undefined,
  redisCa: undefined,
  clusterExpirySeconds: 10,
  workers: 1,
  reusePort: false,
});

/** Renames a session may make at once before --rename-limit applies: tries for a free name. */
export const RENAME_BURST = 3;

/** A certificate chain and its private key, as PEM text. */
export interface TlsCertificate {
  /** The server's certificate first, then any intermediates. */
  cert: string;
  key: string;
}
