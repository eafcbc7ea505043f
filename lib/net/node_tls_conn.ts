import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { SecureContext } from "node:tls";
import type { TlsStream } from "./stream_conn.ts";

/** Bytes read ahead of the caller before the socket is paused: TCP then slows the peer down. */
const READ_AHEAD_BYTES = 64 * 1024;

/**
 * The server's side of a TLS connection, made with node:tls on a node:net socket rather than
 * by Deno.listenTls, for two things Deno 2.9's TlsConn cannot do: turn Nagle off (a small
 * write behind an unacknowledged one would wait for the peer's delayed ACK, up to 40 ms),
 * and close a socket whose handshake has not finished (a stalled handshake would keep its
 * file descriptor until the peer spoke). Reads and writes look like a Deno.Conn's.
 */
export class NodeTlsConn implements TlsStream {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  readonly #socket: TLSSocket;
  readonly #handshake: Promise<void>;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(raw: Socket, secureContext: SecureContext) {
    raw.setNoDelay(true);
    raw.setKeepAlive(true);
    this.remoteAddr = netAddr(raw.remoteAddress, raw.remotePort);
    this.localAddr = netAddr(raw.localAddress, raw.localPort);
    this.#socket = new TLSSocket(raw, { isServer: true, secureContext });
    this.#handshake = new Promise<void>((resolve, reject) => {
      this.#socket.once("secure", resolve);
      this.#socket.once("close", () => reject(new Deno.errors.UnexpectedEof("peer closed")));
    });
    // Only the handshake's caller cares; a failure also closes the socket, below.
    this.#handshake.catch(() => {});
    this.#socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= READ_AHEAD_BYTES) this.#socket.pause();
      this.#notify();
    });
    this.#socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    this.#socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#socket.destroy();
    });
    this.#socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  /** Rejects with the TLS error (a plain-text client: "corrupt message"), or on a close. */
  async handshake(): Promise<void> {
    try {
      await this.#handshake;
    } catch (error) {
      throw this.#error ?? error;
    }
  }

  async firstInput(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
    while (this.#chunks.length === 0 && !this.#ended && this.#error === undefined) {
      const waited = await Promise.race([
        new Promise<boolean>((resolve) => this.#wake = () => resolve(true)),
        timedOut.then(() => false),
      ]);
      if (!waited) break;
    }
    clearTimeout(timer);
    return this.#chunks.length > 0 || !(this.#ended || this.#error !== undefined);
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let count = 0;
    while (count < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, p.length - count);
      p.set(chunk.subarray(0, take), count);
      count += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= count;
    if (this.#buffered < READ_AHEAD_BYTES && this.#socket.isPaused()) this.#socket.resume();
    return count;
  }

  /** Resolves once node has handed the bytes to the socket: the caller may then reuse them. */
  write(p: Uint8Array): Promise<number> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#socket.write(p, (error?: Error | null) => {
        if (error) reject(this.#error ?? error);
        else resolve(p.length);
      });
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  /** Closes at once, whatever the handshake's state. */
  close(): void {
    this.#socket.destroy();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** node:net's address of an IPv4 peer on a dual-stack socket is "::ffff:1.2.3.4". */
function netAddr(address: string | undefined, port: number | undefined): Deno.NetAddr {
  const hostname = address?.startsWith("::ffff:") && address.includes(".")
    ? address.slice("::ffff:".length)
    : address ?? "";
  return { transport: "tcp", hostname, port: port ?? 0 };
}
