import { PAGE_CSP, PAGE_HTML } from "../../gen/web/page.ts";
import { WebSocketTransport } from "../net/websocket_transport.ts";
import type { ChatServer } from "./chat_server.ts";
import { ListenError } from "./errors.ts";
import { formatMetrics } from "./prometheus.ts";
import { describeError } from "../util/describe_error.ts";

export interface HttpGatewayOptions {
  hostname: string;
  port: number;
  /**
   * Origins whose pages may open /ws, such as "https://chat.example.com"; "*" for
   * any. Undefined: the server's own host, and localhost.
   */
  allowedOrigins?: string[];
}

/**
 * The server's HTTP side, in the same process: the chat page at /, a WebSocket
 * gateway at /ws into the same session pool, /healthz and /metrics.
 */
export class HttpGateway {
  readonly address: Deno.NetAddr;
  readonly #http: Deno.HttpServer<Deno.NetAddr>;
  readonly #chat: ChatServer;
  readonly #allowedOrigins: string[] | undefined;
  #stopping = false;

  /** Starts listening at once. Throws ListenError with a plain-words reason. */
  constructor(chat: ChatServer, options: HttpGatewayOptions) {
    this.#chat = chat;
    this.#allowedOrigins = options.allowedOrigins;
    try {
      this.#http = Deno.serve(
        { hostname: options.hostname, port: options.port, onListen() {} },
        (request, info) => this.#handle(request, info),
      );
    } catch (error) {
      throw ListenError.from(options.hostname, options.port, error);
    }
    this.address = this.#http.addr;
  }

  /**
   * Shuts the chat server down, then stops serving HTTP. In that order: closing
   * the HTTP server first would drop the WebSockets before their SHUTTING_DOWN.
   */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    await this.#chat.shutdown();
    await this.#http.shutdown();
  }

  #handle(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
    const { pathname } = new URL(request.url);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    switch (pathname) {
      case "/":
        return new Response(PAGE_HTML, {
          headers: {
            "content-type": "text/html; charset=utf-8",
            // Only the page's own script and style (by hash) may run: an injection has nowhere to go.
            // No other site may frame the page (clickjacking); browsers without CSP 2 read XFO.
            "content-security-policy": `${PAGE_CSP}; frame-ancestors 'none'`,
            "x-frame-options": "DENY",
            "x-content-type-options": "nosniff",
          },
        });
      case "/healthz":
        return this.#stopping
          ? new Response("shutting down\n", { status: 503 })
          : new Response("ok\n", { headers: { "content-type": "text/plain" } });
      case "/metrics":
        return new Response(formatMetrics(this.#chat.stats()), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "/ws":
        return this.#upgrade(request, info);
      default:
        return new Response("Not found\n", { status: 404 });
    }
  }

  #upgrade(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
    if (request.method !== "GET" || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("This is a WebSocket endpoint\n", { status: 426 });
    }
    const origin = request.headers.get("origin");
    if (!originAllowed(origin, request.headers.get("host"), this.#allowedOrigins)) {
      // Cross-site WebSocket hijacking: another site's page must not chat as our user.
      return new Response(`Origin not allowed: ${origin}\n`, { status: 403 });
    }
    // Read before the upgrade, which ends the request and its info with it.
    const remote = info.remoteAddr;
    // Refused before the upgrade: Deno cannot close a WebSocket that is still opening.
    const refusal = this.#chat.refusal(remote.hostname);
    if (refusal !== undefined) return new Response(`${refusal}\n`, { status: 503 });
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(request);
    } catch (error) {
      return new Response(`Bad WebSocket request: ${describeError(error)}\n`, { status: 400 });
    }
    this.#chat.serve(
      new WebSocketTransport(upgraded.socket, remote, this.#chat.options.maxFrameBytes),
    );
    return upgraded.response;
  }
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
