import { freePort } from "./client_process.ts";
import { deadline } from "./deadline.ts";
import { LineReader } from "./line_reader.ts";

/** PEM files for a Redis that speaks TLS only. */
export interface RedisTlsFiles {
  cert: string;
  key: string;
  /** The CA that signed `cert`; clients are not asked for certificates of their own. */
  ca: string;
}

/**
 * A real redis-server (Debian's package) on a free loopback port, with no persistence:
 * a restart comes back empty, the hardest case for the backplane.
 */
export class RedisProcess implements AsyncDisposable {
  readonly port: number;
  readonly #tls: RedisTlsFiles | undefined;
  #process: Deno.ChildProcess | undefined;
  #stdout: LineReader | undefined;

  private constructor(port: number, tls: RedisTlsFiles | undefined) {
    this.port = port;
    this.#tls = tls;
  }

  /** redis://, or rediss:// for a Redis started with `tls`. */
  get url(): string {
    return `${this.#tls === undefined ? "redis" : "rediss"}://127.0.0.1:${this.port}`;
  }

  /**
   * Starts redis-server and waits until it accepts connections: on a plain port, or with
   * `tls` on a TLS port alone.
   */
  static async start(tls?: RedisTlsFiles): Promise<RedisProcess> {
    const redis = new RedisProcess(freePort(), tls);
    await redis.restart();
    return redis;
  }

  /** Starts it again on the same port, after `kill`. */
  async restart(): Promise<void> {
    const process = new Deno.Command("redis-server", {
      args: [
        ...(this.#tls === undefined ? ["--port", String(this.port)] : [
          ...["--port", "0", "--tls-port", String(this.port), "--tls-auth-clients", "no"],
          ...["--tls-cert-file", this.#tls.cert, "--tls-key-file", this.#tls.key],
          ...["--tls-ca-cert-file", this.#tls.ca],
        ]),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "notice",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#process = process;
    this.#stdout = new LineReader(process.stdout);
    try {
      await this.#stdout.waitFor("Ready to accept connections", 10_000);
    } catch (error) {
      await this.kill();
      throw new Error(`redis-server did not start:\n${this.#stdout.text}`, { cause: error });
    }
  }

  /** Kills it with SIGKILL, as a crash would, and waits until it is gone. */
  async kill(): Promise<void> {
    const process = this.#process;
    if (process === undefined) return;
    this.#process = undefined;
    try {
      process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await deadline(process.status, 10_000, "redis-server to exit");
    await this.#stdout?.done;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.kill();
  }
}
