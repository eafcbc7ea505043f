import { shutAndDrain } from "../net/shut_and_drain.ts";
import { writeAll } from "../net/write_all.ts";
import type { StreamConn } from "../net/stream_conn.ts";
import { isTlsHello, TlsOnPlainPortError } from "../net/tls_hello.ts";
import { headEnd, HttpRequestError, HttpRequestHead } from "./http_request_head.ts";

/** The longest request head read: one past it is answered 431. Browsers send well under 2 KiB. */
export const MAX_HEAD_BYTES = 8 * 1024;

/** How long a closing connection reads and drops what the client still sends (shutAndDrain). */
const LINGER_MS = 1000;

/** An answer to one request. */
export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Closes the connection after it, whatever the client asked. */
  close?: boolean;
}

/** What to do with a request: answer it, or take the connection over (a WebSocket). */
export type HttpRespond = (
  head: HttpRequestHead,
  connection: HttpConnection,
) => HttpResponse | "taken" | Promise<HttpResponse | "taken">;

export interface HttpConnectionLimits {
  /** How long a request's head may take to arrive, from the connection or its first byte. */
  headerTimeoutMs: number;
  /** How long a kept-alive connection may wait for its next request. */
  idleTimeoutMs: number;
  /** How long writing one response may take. */
  writeTimeoutMs: number;
}

const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Content Too Large",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

const encoder = new TextEncoder();

/**
 * One connection to the HTTP port: requests, one after another (kept alive as HTTP/1.1
 * asks), each answered whole before the next is read. GET and HEAD only, with no body.
 * Every wait is bounded: a head has `headerTimeoutMs` to arrive, a kept-alive connection
 * `idleTimeoutMs` to start its next request, and a response `writeTimeoutMs` to go out.
 */
export class HttpConnection {
  readonly conn: StreamConn;
  readonly #limits: HttpConnectionLimits;
  readonly #respond: HttpRespond;
  readonly #buffer = new Uint8Array(MAX_HEAD_BYTES);
  #filled = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #taken = false;

  constructor(conn: StreamConn, limits: HttpConnectionLimits, respond: HttpRespond) {
    this.conn = conn;
    this.#limits = limits;
    this.#respond = respond;
  }

  /**
   * Serves requests until the connection closes or is taken over. Throws TlsOnPlainPortError
   * when a TLS client opens it on a plain port, and otherwise only for a bug: the socket's own
   * errors end the connection quietly.
   */
  async run(): Promise<void> {
    try {
      for (let first = true;; first = false) {
        const end = await this.#readHead(first);
        if (end === undefined) return;
        let response: HttpResponse | "taken";
        let head: HttpRequestHead | undefined;
        try {
          if (end < 0) throw new HttpRequestError(431, "Request header fields too large");
          head = HttpRequestHead.parse(this.#buffer.subarray(0, end - 4));
          // What follows the head is the next request's, or a WebSocket's first frames.
          this.#buffer.copyWithin(0, end, this.#filled);
          this.#filled -= end;
          response = await this.#answer(head);
        } catch (error) {
          if (!(error instanceof HttpRequestError)) throw error;
          response = { status: error.status, body: `${error.message}\n`, close: true };
        }
        if (response === "taken") {
          this.#taken = true;
          return;
        }
        const keepAlive = head !== undefined && head.keepAlive && response.close !== true;
        await this.write(serializeResponse(response, head, keepAlive));
        if (!keepAlive) return await this.#linger();
      }
    } catch (error) {
      // A reset, a timeout that closed the connection: nothing to answer. Anything else is a bug.
      if (!isIoError(error)) throw error;
    } finally {
      this.#disarm();
      if (!this.#taken) this.close();
    }
  }

  /** Bytes read past the last request's head: a WebSocket's first frames, say. */
  takeRest(): Uint8Array {
    const rest = this.#buffer.slice(0, this.#filled);
    this.#filled = 0;
    return rest;
  }

  /** Writes all of `bytes` within the write timeout; throws when the connection is gone. */
  async write(bytes: Uint8Array): Promise<void> {
    this.#arm(this.#limits.writeTimeoutMs);
    try {
      await writeAll(this.conn, bytes);
    } finally {
      this.#disarm();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    try {
      this.conn.close();
    } catch {
      // Already closed after a reset.
    }
  }

  #answer(head: HttpRequestHead): HttpResponse | "taken" | Promise<HttpResponse | "taken"> {
    const hasBody = head.hasBody;
    if (head.method !== "GET" && head.method !== "HEAD") {
      // A body we do not read would be taken for the next request: close after the answer.
      return {
        status: 405,
        headers: { allow: "GET, HEAD" },
        body: "Method not allowed\n",
        close: hasBody,
      };
    }
    if (hasBody) throw new HttpRequestError(413, "A GET or HEAD request has no body");
    return this.#respond(head, this);
  }

  /**
   * The head's end (past its blank line) once it has come; -1 when it outgrows
   * MAX_HEAD_BYTES; undefined when the connection ends or times out first.
   */
  async #readHead(first: boolean): Promise<number | undefined> {
    const { headerTimeoutMs, idleTimeoutMs } = this.#limits;
    // Between requests the client may think; once it starts one, it has the header timeout.
    let waiting = !first && this.#filled === 0;
    this.#arm(waiting ? idleTimeoutMs : headerTimeoutMs);
    let scanned = 0;
    while (true) {
      const end = headEnd(this.#buffer.subarray(0, this.#filled), scanned);
      if (end >= 0) {
        this.#disarm();
        return end;
      }
      if (this.#filled === this.#buffer.length) {
        this.#disarm();
        return -1;
      }
      scanned = Math.max(0, this.#filled - 3);
      let count: number | null;
      try {
        count = await this.conn.read(this.#buffer.subarray(this.#filled));
      } catch {
        return undefined;
      }
      if (count === null) return undefined;
      this.#filled += count;
      // A TLS client on the plain port: its ClientHello is no request, and no answer would help.
      if (first && this.#filled >= 2 && isTlsHello(this.#buffer[0], this.#buffer[1])) {
        throw new TlsOnPlainPortError();
      }
      if (waiting) {
        waiting = false;
        this.#arm(headerTimeoutMs);
      }
    }
  }

  /** Shuts our side, then drops what the client still sends, for a moment at most. */
  async #linger(): Promise<void> {
    try {
      this.#arm(LINGER_MS);
      await shutAndDrain(this.conn);
    } catch {
      // Reset, or the linger ran out.
    }
  }

  /** A deadline: when it passes, the connection closes, and the read or write waiting fails. */
  #arm(ms: number): void {
    this.#disarm();
    this.#timer = setTimeout(() => this.close(), ms);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Errors of the socket itself (Deno.errors.*), as against the server's own. */
function isIoError(error: unknown): boolean {
  return Object.values(Deno.errors).some((kind) => error instanceof kind);
}

/** A response's bytes. HEAD gets the headers GET would, and no body. */
export function serializeResponse(
  response: HttpResponse,
  head: HttpRequestHead | undefined,
  keepAlive: boolean,
): Uint8Array {
  const body = typeof response.body === "string"
    ? encoder.encode(response.body)
    : response.body ?? new Uint8Array(0);
  const lines = [`HTTP/1.1 ${response.status} ${REASONS[response.status] ?? "Unknown"}`];
  const headers: Record<string, string> = {
    ...(response.body !== undefined && { "content-type": "text/plain; charset=utf-8" }),
    ...response.headers,
  };
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (response.status !== 101) {
    lines.push(`content-length: ${body.length}`);
    if (!keepAlive) lines.push("connection: close");
    else if (head?.minorVersion === 0) lines.push("connection: keep-alive");
  }
  const text = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  if (head?.method === "HEAD" || body.length === 0) return text;
  const out = new Uint8Array(text.length + body.length);
  out.set(text);
  out.set(body, text.length);
  return out;
}
