/** A request the HTTP side cannot take: answered with `status`, then the connection closes. */
export class HttpRequestError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpRequestError";
    this.status = status;
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/;
/** Header values: visible ASCII, spaces and tabs, and obs-text. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** An HTTP/1.x request's head: the server takes GET and HEAD only, and no body. */
export class HttpRequestHead {
  private constructor(
    readonly method: string,
    /** The path alone, normalised as URL does it: no query. */
    readonly path: string,
    /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
    readonly minorVersion: number,
    /** Header names in lower case; a repeated header's values joined with ", ". */
    readonly headers: ReadonlyMap<string, string>,
  ) {}

  /**
   * Parses the head's bytes, without the blank line that ends it. Throws HttpRequestError
   * (400) when they are no HTTP/1.x request.
   */
  static parse(bytes: Uint8Array): HttpRequestHead {
    // latin1: every byte is one character, so a stray byte cannot hide a CR or LF.
    const [requestLine, ...lines] = new TextDecoder("latin1").decode(bytes).split("\r\n");
    const match = REQUEST_LINE.exec(requestLine);
    if (match === null) throw new HttpRequestError(400, "Bad request line");
    const [, method, target, minor] = match;
    let path: string;
    try {
      // Origin form ("/healthz?x") or absolute form ("http://host/healthz").
      if (!target.startsWith("/") && !/^https?:\/\//i.test(target)) throw new Error();
      path = new URL(target, "http://host").pathname;
    } catch {
      throw new HttpRequestError(400, "Bad request target");
    }
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      // No obs-fold (a line starting with a space), no bare CR or LF, no space before the colon.
      if (colon <= 0 || !TOKEN.test(name) || !FIELD_VALUE.test(value)) {
        throw new HttpRequestError(400, "Bad header line");
      }
      const key = name.toLowerCase();
      headers.set(key, headers.has(key) ? `${headers.get(key)}, ${value}` : value);
    }
    return new HttpRequestHead(method, path, Number(minor), headers);
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  /** The comma-separated tokens of a header, in lower case: Connection, Upgrade. */
  tokens(name: string): string[] {
    return (this.headers.get(name) ?? "").split(",").map((token) => token.trim().toLowerCase());
  }

  /** Whether the client wants the connection kept for another request. */
  get keepAlive(): boolean {
    const connection = this.tokens("connection");
    return this.minorVersion === 1
      ? !connection.includes("close")
      : connection.includes("keep-alive");
  }

  /**
   * Whether a body follows the head. The server reads none: a request with one is
   * answered, and the connection closed, since what follows cannot be told from a request.
   */
  get hasBody(): boolean {
    if (this.headers.has("transfer-encoding")) return true;
    const length = this.headers.get("content-length");
    if (length === undefined) return false;
    if (!/^\d+$/.test(length)) throw new HttpRequestError(400, "Bad Content-Length");
    return Number(length) > 0;
  }
}

/** Where the head ends: the index just past its blank line, or -1 while it has not come. */
export function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = Math.max(3, from); i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      return i + 1;
    }
  }
  return -1;
}
