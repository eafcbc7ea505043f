import { freePort } from "./client_process.ts";
import { deadline } from "./deadline.ts";
import { LineReader } from "./line_reader.ts";

/**
 * A real redis-server (Debian's package) on a free loopback port, with no persistence:
 * a restart comes back empty, the hardest case for the backplane.
 */
export class RedisProcess implements AsyncDisposable {
  readonly port: number;
  #process: Deno.ChildProcess | undefined;
  #stdout: LineReader | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts redis-server and waits until it accepts connections. */
  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(freePort());
    await redis.restart();
    return redis;
  }

  /** Starts it again on the same port, after `kill`. */
  async restart(): Promise<void> {
    const process = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
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
