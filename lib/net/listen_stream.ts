import { NodeTlsListener } from "./node_tls_listener.ts";
import type { StreamConn } from "./stream_conn.ts";

/** What the accept loops take connections from: a TCP listener, or a TLS one. */
export interface StreamListener {
  readonly addr: Deno.NetAddr;
  /** Resolves once connections are taken (node:net binds a moment after Deno has). */
  readonly ready?: Promise<void>;
  accept(): Promise<StreamConn>;
  close(): void;
}

export interface ListenStreamOptions {
  hostname: string;
  port: number;
  /** PEM certificate chain and key: TLS on this port. @default undefined (plain TCP) */
  tls?: { cert: string; key: string };
  /** SO_REUSEPORT, for --workers; needs --unstable-net. @default false */
  reusePort?: boolean;
}

/** Listens at once, plain or TLS; throws as Deno.listen does (AddrInUse and the like). */
export function listenStream(options: ListenStreamOptions): StreamListener {
  const { hostname, port, tls, reusePort = false } = options;
  if (tls !== undefined) return new NodeTlsListener({ hostname, port, reusePort, ...tls });
  // Only when asked: reusePort is an unstable API, refused without --unstable-net.
  return Deno.listen(reusePort ? { hostname, port, reusePort } : { hostname, port });
}
