import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { PAGE_CSP, PAGE_HTML } from "../../gen/web/page.ts";
import { shutAndDrain } from "../net/shut_and_drain.ts";
import { WebSocketTransport } from "../net/websocket_transport.ts";
import { writeAll } from "../net/write_all.ts";
import { isTls, type StreamConn } from "../net/stream_conn.ts";
import { listenStream, type StreamListener } from "../net/listen_stream.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { TLS_ON_PLAIN_PORT, TlsOnPlainPortError } from "../net/tls_hello.ts";
import type { TlsCertificate } from "./options.ts";
import { acceptHandshake } from "./tls_handshake.ts";
import { BurstLog } from "./burst_log.ts";
import { countNoun } from "../util/count_noun.ts";
import { describeError } from "../util/describe_error.ts";
import { acceptLoop } from "./accept_loop.ts";
import { type ChatServer, listenerReady } from "./chat_server.ts";
import { ConnectionsPerAddress, isLoopback } from "./connections_per_address.ts";
import { ListenError } from "./errors.ts";
import {
  HttpConnection,
  type HttpConnectionLimits,
  type HttpResponse,
  serializeResponse,
} from "./http_connection.ts";
import type { HttpRequestHead } from "./http_request_head.ts";
import type { Logger } from "./logger.ts";
import { formatMetrics } from "./prometheus.ts";

/**
 * Loopback connections taken past --max-http-connections, for /healthz and /metrics alone:
 * the operator on the host can still look while the cap is hit.
 */
export const OPERATOR_HEADROOM = 8;

/** Refusals being written at once; past this, extra connections are just closed. */
const MAX_REFUSALS_IN_PROGRESS = 64;

/** How long a refused connection may take to read its 503. */
const REFUSAL_MS = 1000;

/** The page, encoded and compressed once rather than for every request: gzip takes it to 30 %. */
const PAGE_BYTES = new TextEncoder().encode(PAGE_HTML);
const PAGE_GZIP = gzipSync(PAGE_BYTES);

/** RFC 6455 section 1.3: the GUID a server appends to the client's key. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export interface HttpGatewayOptions {
  hostname: string;
  port: number;
  /**
   * Origins whose pages may open /ws, such as "https://chat.example.com"; "*" for
   * any. Undefined: the server's own host, and localhost.
   */
  allowedOrigins?: string[];
  /** Serves HTTPS with this certificate (the chat port's), so that the page uses wss://. */
  tls?: TlsCertificate;
}

/** The HTTP side's own figures, for /metrics. */
export interface HttpStats {
  /** Connections to the HTTP port now, not counting those upgraded to WebSocket. */
  connections: number;
  /**
   * Connections refused for the HTTP cap, or too many from one address: at once, or (in the
   * operator's headroom) at their first request for anything but /healthz and /metrics.
   */
  refused: number;
}

/**
 * The server's HTTP side, in the same process: the chat page at /, a WebSocket
 * gateway at /ws into the same session pool, /healthz and /metrics.
 *
 * A small HTTP/1.1 server of its own on a raw listener rather than Deno.serve, which
 * bounds nothing: here a head has a deadline and a size, a kept-alive connection an idle
 * timeout, the connections a cap, and a WebSocket its message size and close handshake.
 */
export class HttpGateway {
  readonly address: Deno.NetAddr;
  /** See ChatServer.ready. */
  readonly ready: Promise<void>;
  readonly #listener: StreamListener;
  readonly #chat: ChatServer;
  readonly #logger: Logger;
  readonly #allowedOrigins: string[] | undefined;
  readonly #limits: HttpConnectionLimits;
  readonly #acceptLoop: Promise<void>;
  readonly #open = new Set<HttpConnection>();
  readonly #perIp = new ConnectionsPerAddress();
  /** Connections within the cap, and loopback ones in the operator's headroom. */
  #connections = 0;
  #operatorConnections = 0;
  #refused = 0;
  #refusing = 0;
  readonly #handshakeFailures: BurstLog;
  readonly #plainPortMismatches: BurstLog;
  #stopping = false;

  /** Starts listening at once. Throws ListenError with a plain-words reason. */
  constructor(chat: ChatServer, options: HttpGatewayOptions, logger: Logger) {
    this.#chat = chat;
    this.#logger = logger;
    this.#allowedOrigins = options.allowedOrigins;
    this.#handshakeFailures = new BurstLog(logger, "tls_handshake_failed");
    this.#plainPortMismatches = new BurstLog(logger, "tls_on_plain_port");
    const { httpHeaderTimeoutSeconds, httpIdleTimeoutSeconds, writeTimeoutSeconds } = chat.options;
    this.#limits = {
      headerTimeoutMs: httpHeaderTimeoutSeconds * 1000,
      idleTimeoutMs: httpIdleTimeoutSeconds * 1000,
      writeTimeoutMs: writeTimeoutSeconds * 1000,
    };
    try {
      const { hostname, port, tls } = options;
      this.#listener = listenStream({ hostname, port, tls });
    } catch (error) {
      throw ListenError.from(options.hostname, options.port, error);
    }
    this.address = this.#listener.addr;
    this.ready = listenerReady(this.#listener, options.hostname);
    this.#acceptLoop = acceptLoop(
      "http",
      this.#listener,
      (conn) => this.#accepted(conn),
      logger,
      () => this.#stopping,
    );
  }

  stats(): HttpStats {
    return { connections: this.#connections + this.#operatorConnections, refused: this.#refused };
  }

  /**
   * Shuts the chat server down, then stops serving HTTP. In that order: closing
   * the HTTP side first would drop the WebSockets before their SHUTTING_DOWN.
   */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    await this.#chat.shutdown();
    this.#listener.close();
    await this.#acceptLoop;
    for (const connection of this.#open) connection.close();
  }

  #accepted(conn: StreamConn): void {
    const ip = conn.remoteAddr.hostname;
    const refusal = this.#refusal(ip);
    // Set for a connection in the operator's headroom: why anything else is refused to it.
    const operator = refusal;
    if (refusal !== undefined) {
      if (!isLoopback(ip) || this.#operatorConnections >= OPERATOR_HEADROOM) {
        this.#refuse(conn, refusal);
        return;
      }
    }
    if (operator !== undefined) this.#operatorConnections++;
    else {
      this.#connections++;
      this.#perIp.add(ip);
    }
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      this.#open.delete(connection);
      if (operator !== undefined) return void this.#operatorConnections--;
      this.#connections--;
      this.#perIp.remove(ip);
    };
    const connection = new HttpConnection(
      conn,
      this.#limits,
      (head, connection) => this.#respond(head, connection, operator, release),
    );
    this.#open.add(connection);
    this.#run(connection).catch((error) => {
      const peer = formatHostPort(ip, conn.remoteAddr.port);
      if (error instanceof TlsOnPlainPortError) {
        this.#plainPortMismatches.warn(`${TLS_ON_PLAIN_PORT}: ${peer} (http)`, { peer });
        return;
      }
      this.#logger.log("error", "http_failed", `unexpected error: ${describeError(error)}`);
    }).finally(release);
  }

  /**
   * Serves the connection's requests. Over TLS, the handshake comes first, within the
   * header timeout: the connection holds its place toward the caps meanwhile.
   */
  async #run(connection: HttpConnection): Promise<void> {
    const conn = connection.conn;
    if (isTls(conn)) {
      const failure = await acceptHandshake(conn, this.#limits.headerTimeoutMs);
      if (failure !== undefined) {
        // A shutdown cut it: nothing to report.
        if (this.#stopping) return;
        const peer = formatHostPort(conn.remoteAddr.hostname, conn.remoteAddr.port);
        this.#handshakeFailures.warn(`TLS handshake failed from ${peer} (http): ${failure}`, {
          peer,
        });
        return;
      }
    }
    await connection.run();
  }

  /** Why a new HTTP connection from `ip` cannot be taken now, or undefined when it can. */
  #refusal(ip: string): string | undefined {
    const { maxHttpConnections } = this.#chat.options;
    if (this.#connections >= maxHttpConnections) {
      return `The server is busy (${countNoun(maxHttpConnections, "HTTP connection")}); ` +
        "try again later";
    }
    return this.#perIp.refusal(ip, this.#chat.options);
  }

  /** A 503 without reading the request, then the connection closes; bounded in number and time. */
  async #refuse(conn: StreamConn, why: string): Promise<void> {
    this.#refused++;
    if (this.#refusing >= MAX_REFUSALS_IN_PROGRESS) return void conn.close();
    this.#refusing++;
    const timer = setTimeout(() => conn.close(), REFUSAL_MS);
    try {
      await writeAll(conn, serializeResponse({ status: 503, body: `${why}\n` }, undefined, false));
      // The request unread: closing at once would reset the connection, and lose the 503.
      await shutAndDrain(conn);
      conn.close();
    } catch {
      // Reset, or out of time: the timer closed it.
    } finally {
      clearTimeout(timer);
      this.#refusing--;
    }
  }

  /** `operator`: why the connection would have been refused, when it is in the headroom. */
  #respond(
    head: HttpRequestHead,
    connection: HttpConnection,
    operator: string | undefined,
    release: () => void,
  ): HttpResponse | "taken" | Promise<HttpResponse | "taken"> {
    if (operator !== undefined && head.path !== "/healthz" && head.path !== "/metrics") {
      this.#refused++;
      return { status: 503, body: `${operator}\n`, close: true };
    }
    switch (head.path) {
      case "/": {
        const gzip = head.tokens("accept-encoding").some((token) => /^gzip(;|$)/.test(token));
        return {
          status: 200,
          headers: {
            "content-type": "text/html; charset=utf-8",
            ...(gzip && { "content-encoding": "gzip" }),
            vary: "Accept-Encoding",
            // Only the page's own script and style (by hash) may run: an injection has nowhere to go.
            // No other site may frame the page (clickjacking); browsers without CSP 2 read XFO.
            "content-security-policy": `${PAGE_CSP}; frame-ancestors 'none'`,
            "x-frame-options": "DENY",
            "x-content-type-options": "nosniff",
          },
          body: gzip ? PAGE_GZIP : PAGE_BYTES,
        };
      }
      case "/healthz":
        return this.#stopping
          ? { status: 503, body: "shutting down\n" }
          : { status: 200, headers: { "content-type": "text/plain" }, body: "ok\n" };
      case "/metrics":
        return {
          status: 200,
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          body: formatMetrics(this.#chat.stats(), this.stats()),
        };
      case "/ws":
        return this.#upgrade(head, connection, release);
      default:
        return { status: 404, body: "Not found\n" };
    }
  }

  async #upgrade(
    head: HttpRequestHead,
    connection: HttpConnection,
    release: () => void,
  ): Promise<HttpResponse | "taken"> {
    if (head.method !== "GET" || !head.tokens("upgrade").includes("websocket")) {
      return {
        status: 426,
        headers: { upgrade: "websocket" },
        body: "This is a WebSocket endpoint\n",
      };
    }
    const origin = head.header("origin") ?? null;
    if (!originAllowed(origin, head.header("host") ?? null, this.#allowedOrigins)) {
      // Cross-site WebSocket hijacking: another site's page must not chat as our user.
      return { status: 403, body: `Origin not allowed: ${origin}\n` };
    }
    const key = head.header("sec-websocket-key");
    const bad = !head.tokens("connection").includes("upgrade")
      ? "Connection does not say Upgrade"
      : key === undefined
      ? "Sec-WebSocket-Key is missing"
      : !isWebSocketKey(key)
      ? "Sec-WebSocket-Key is not 16 bytes in base64"
      : undefined;
    if (bad !== undefined) {
      return { status: 400, body: `Bad WebSocket request: ${bad}\n`, close: true };
    }
    if (head.header("sec-websocket-version") !== "13") {
      return {
        status: 426,
        headers: { "sec-websocket-version": "13" },
        body: "Bad WebSocket request: only version 13 is spoken\n",
        close: true,
      };
    }
    const peer = connection.conn.remoteAddr;
    const refusal = this.#chat.refusal(peer.hostname);
    if (refusal !== undefined) {
      this.#chat.refused(peer, "websocket", refusal);
      return { status: 503, body: `${refusal}\n` };
    }
    const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
    await connection.write(serializeResponse(
      {
        status: 101,
        headers: {
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-accept": accept,
        },
      },
      head,
      true,
    ));
    // From here on a chat connection, counted as one until its socket closes.
    release();
    const { maxFrameBytes, closeHandshakeTimeoutSeconds } = this.#chat.options;
    this.#chat.serve(
      new WebSocketTransport(connection.conn, connection.takeRest(), {
        encrypted: isTls(connection.conn) || endedHttpsNearby(head, peer),
        maxMessageBytes: maxFrameBytes,
        closeHandshakeTimeoutMs: closeHandshakeTimeoutSeconds * 1000,
      }),
    );
    return "taken";
  }
}

/**
 * Whether a reverse proxy on this host ended HTTPS for this request: a loopback peer that
 * says so with X-Forwarded-Proto. From anywhere else the header proves nothing.
 */
function endedHttpsNearby(head: HttpRequestHead, peer: Deno.NetAddr): boolean {
  return isLoopback(peer.hostname) && head.header("x-forwarded-proto")?.toLowerCase() === "https";
}

/** RFC 6455 section 4.1: a random 16-byte value, base64-encoded (24 characters). */
function isWebSocketKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}

const LOCAL_HOSTNAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Whether a page from `origin` may open the WebSocket. No Origin header means no
 * browser, and nothing to hijack.
 */
export function originAllowed(
  origin: string | null,
  host: string | null,
  allowedOrigins: string[] | undefined,
): boolean {
  if (origin === null) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (allowedOrigins !== undefined) {
    return allowedOrigins.includes("*") || allowedOrigins.includes(url.origin);
  }
  return url.host === host || LOCAL_HOSTNAMES.has(url.hostname);
}
