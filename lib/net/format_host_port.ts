/** "127.0.0.1:8080", or "[::1]:8080" for IPv6, as people and URLs write them. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
