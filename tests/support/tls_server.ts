import { SERVER_SCRIPT, ServerProcess } from "./server_process.ts";
import { type PemPair, writePemPair } from "./test_certificates.ts";

/** The server may read its certificate files, wherever the test wrote them. */
const TLS_SERVER = [
  Deno.execPath(),
  "run",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=CHAT_POISON_BUFFERS",
  SERVER_SCRIPT,
];

/** A server whose chat port serves `pair` over TLS, and the folder that holds the files. */
export class TlsServer implements AsyncDisposable {
  private constructor(readonly server: ServerProcess, readonly dir: string) {}

  /** `args`: more of the server's flags (`--http-port`, say). */
  static async start(pair: PemPair, args: string[] = []): Promise<TlsServer> {
    const dir = await Deno.makeTempDir({ prefix: "chat-tls-" });
    const files = writePemPair(dir, pair);
    const server = await ServerProcess.start(
      ["--tls-cert", files.cert, "--tls-key", files.key, ...args],
      TLS_SERVER,
    );
    return new TlsServer(server, dir);
  }

  get port(): string {
    return String(this.server.port);
  }

  /** Writes `pem` next to the server's files; returns its path. */
  write(name: string, pem: string): string {
    const path = `${this.dir}/${name}`;
    Deno.writeTextFileSync(path, pem);
    return path;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server[Symbol.asyncDispose]();
    await Deno.remove(this.dir, { recursive: true });
  }
}
