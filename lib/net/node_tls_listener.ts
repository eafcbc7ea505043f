import { createServer, type Server, type Socket } from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";
import { NodeTlsConn } from "./node_tls_conn.ts";

export interface NodeTlsListenOptions {
  hostname: string;
  /** 0 picks a free one. */
  port: number;
  /** PEM text: the certificate chain, and its key. */
  cert: string;
  key: string;
  /** SO_REUSEPORT, so that the threads of --workers share the port. @default false */
  reusePort?: boolean;
}

/**
 * A TLS listener in the shape of a Deno.Listener, made of node:net and node:tls (see
 * NodeTlsConn for why). It accepts TCP connections as they come; each one's handshake is its
 * own, for the server to bound and count.
 */
export class NodeTlsListener {
  readonly addr: Deno.NetAddr;
  /** Resolves once node:net listens; rejects if it cannot (another program took the port). */
  readonly ready: Promise<void>;
  readonly #server: Server;
  readonly #secureContext: SecureContext;
  readonly #waiting: NodeTlsConn[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  /**
   * Listens at once, and throws as Deno.listen does (AddrInUse and the like), which node's
   * asynchronous listen would only report later: Deno binds the address first, then hands
   * its port on (a free one for port 0).
   */
  constructor(options: NodeTlsListenOptions) {
    this.#secureContext = createSecureContext({ cert: options.cert, key: options.key });
    const reusePort = options.reusePort ?? false;
    // Only when asked: reusePort is an unstable API, refused without --unstable-net.
    const probe = Deno.listen(
      reusePort
        ? { hostname: options.hostname, port: options.port, reusePort }
        : { hostname: options.hostname, port: options.port },
    );
    const port = probe.addr.port;
    probe.close();
    this.addr = { transport: "tcp", hostname: options.hostname, port };
    this.#server = createServer({ noDelay: true, keepAlive: true }, (raw: Socket) => {
      this.#waiting.push(new NodeTlsConn(raw, this.#secureContext));
      this.#notify();
    });
    this.ready = new Promise((resolve, reject) => {
      // Only listen() can fail here, after Deno's bind succeeded: a race for the port.
      this.#server.once("error", (error) => {
        this.close();
        reject(error);
      });
      this.#server.listen(
        { host: options.hostname, port, reusePort } as Parameters<Server["listen"]>[0],
        resolve,
      );
    });
  }

  async accept(): Promise<NodeTlsConn> {
    while (this.#waiting.length === 0) {
      if (this.#closed) throw new Deno.errors.BadResource("Listener has been closed");
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#waiting.shift()!;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const conn of this.#waiting.splice(0)) conn.close();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
