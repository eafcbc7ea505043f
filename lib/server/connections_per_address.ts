/** The per-IP cap's settings, as ServerOptions has them. */
export interface PerAddressLimit {
  maxConnectionsPerIp: number;
  /** Whether loopback addresses are capped too; local tools and tests open many connections. */
  limitLoopback: boolean;
}

/**
 * Connections held from each IP address, for the per-IP cap: one count for the chat
 * connections and one for the HTTP port's, each kept by its owner.
 */
export class ConnectionsPerAddress {
  readonly #counts = new Map<string, number>();

  add(ip: string): void {
    this.#counts.set(ip, (this.#counts.get(ip) ?? 0) + 1);
  }

  remove(ip: string): void {
    const left = this.#counts.get(ip)! - 1;
    if (left === 0) this.#counts.delete(ip);
    else this.#counts.set(ip, left);
  }

  /** Why one more connection from `ip` is over the cap, or undefined when it is not. */
  refusal(ip: string, { maxConnectionsPerIp, limitLoopback }: PerAddressLimit): string | undefined {
    if (!limitLoopback && isLoopback(ip)) return undefined;
    if ((this.#counts.get(ip) ?? 0) < maxConnectionsPerIp) return undefined;
    return `Too many connections from ${ip} (${maxConnectionsPerIp}); close some and try again`;
  }
}

export function isLoopback(hostname: string): boolean {
  return hostname.startsWith("127.") || hostname === "::1" || hostname.startsWith("::ffff:127.");
}
