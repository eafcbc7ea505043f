/** An HTTP/1.x response's status line and headers, as a raw-socket test reads them. */
export class HttpResponseHead {
  private constructor(
    /** The status line, such as "HTTP/1.1 101 Switching Protocols". */
    readonly statusLine: string,
    readonly status: number,
    /** Header names in lower case; a repeated header's values joined with ", ". */
    readonly headers: ReadonlyMap<string, string>,
    /** Bytes up to and including the blank line: what follows is the body, or frames. */
    readonly size: number,
  ) {}

  /**
   * The head at the start of `bytes`, once its blank line has come; undefined before.
   * Throws when the bytes are no HTTP response.
   */
  static parse(bytes: Uint8Array): HttpResponseHead | undefined {
    let end = -1;
    for (let i = 3; i < bytes.length; i++) {
      if (bytes[i - 3] === 13 && bytes[i - 2] === 10 && bytes[i - 1] === 13 && bytes[i] === 10) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) return undefined;
    const [statusLine, ...lines] = new TextDecoder().decode(bytes.subarray(0, end - 4)).split(
      "\r\n",
    );
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (match === null) {
      throw new Error(`Cannot parse HTTP response: status line ${JSON.stringify(statusLine)}`);
    }
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`Cannot parse HTTP response: header ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    return new HttpResponseHead(statusLine, Number(match[1]), headers, end);
  }
}
