/**
 * What a plain-text port says when a TLS client speaks to it: the client wants a handshake,
 * and the server has no certificate.
 */
export const TLS_ON_PLAIN_PORT = "a TLS client on the plain-text port " +
  "(start the server with --tls-cert, or connect without --tls)";

/**
 * Whether a connection's first two bytes begin a TLS record carrying a handshake (a
 * ClientHello): content type 22, then major version 3. Neither a chat frame (a length of 22,
 * then a protobuf tag of field 0, which protobuf forbids) nor an HTTP request starts so.
 */
export function isTlsHello(first: number, second: number): boolean {
  return first === 0x16 && second === 0x03;
}

/** A TLS client's ClientHello arrived where plain text was expected. */
export class TlsOnPlainPortError extends Error {
  constructor() {
    super(TLS_ON_PLAIN_PORT);
    this.name = "TlsOnPlainPortError";
  }
}
