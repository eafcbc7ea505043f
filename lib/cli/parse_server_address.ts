/** A server address as typed by a person. */
export interface ServerAddress {
  hostname: string;
  port: number;
}

/**
 * Reads "host:port", "host", ":port", "port", "[::1]:port" or "::1"; missing parts
 * come from `defaults`. A bare number is a port: no host is named so, and a person
 * who knows a port (as a server prints it) types just that. Undefined when it
 * cannot be an address.
 */
export function parseServerAddress(
  text: string,
  defaults: ServerAddress,
): ServerAddress | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return defaults;
  if (/^\d+$/.test(trimmed)) return withPort(defaults.hostname, trimmed);
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  const plain = /^([^\s:]*)(?::(\d+))?$/.exec(trimmed);
  let hostname: string;
  let port: string | undefined;
  if (bracketed) [, hostname, port] = bracketed;
  else if (plain) [, hostname, port] = plain;
  else if (/^[0-9a-fA-F:]+$/.test(trimmed)) hostname = trimmed; // a bare IPv6 address
  else return undefined;
  return withPort(hostname === "" ? defaults.hostname : hostname, port ?? String(defaults.port));
}

function withPort(hostname: string, port: string): ServerAddress | undefined {
  const number = Number(port);
  return number >= 1 && number <= 65535 ? { hostname, port: number } : undefined;
}
