import { MalformedMessageError } from "../protocol/errors.ts";

/**
 * A client broke RFC 6455 (an unmasked frame, a reserved bit, a control frame too long,
 * fragments out of order): the connection closes with 1002. A MalformedMessageError, since
 * what the client is told is the same as for any stream that cannot be framed.
 */
export class WebSocketProtocolError extends MalformedMessageError {
  constructor(what: string) {
    super(`Cannot parse WebSocket frame: ${what}`);
    this.name = "WebSocketProtocolError";
  }
}
