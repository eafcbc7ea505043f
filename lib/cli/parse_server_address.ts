/** A server address as typed by a person. */
export interface ServerAddress {
  hostname: string;
  port: number;
}

/**
 * Reads "host:port", "host", ":port", "[::1]:port" or "::1"; missing parts come
 * from `defaults`. Undefined when it cannot be an address.
 */
export function parseServerAddress(
  text: string,
  defaults: ServerAddress,
): ServerAddress | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return defaults;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  const plain = /^([^\s:]*)(?::(\d+))?$/.exec(trimmed);
  let hostname: string;
  let port: string | undefined;
  if (bracketed) [, hostname, port] = bracketed;
  else if (plain) [, hostname, port] = plain;
  else if (/^[0-9a-fA-F:]+$/.test(trimmed)) hostname = trimmed; // a bare IPv6 address
  else return undefined;
  const portNumber = port === undefined ? defaults.port : Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) return undefined;
  return { hostname: hostname === "" ? defaults.hostname : hostname, port: portNumber };
}
