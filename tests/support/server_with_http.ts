import { freePort } from "./client_process.ts";
import { ServerProcess } from "./server_process.ts";

/**
 * The real server with HTTP on a free port, once it says so. `launcher` as for
 * ServerProcess.start.
 */
export async function startWithHttp(
  args: string[] = [],
  launcher?: string[],
): Promise<{ server: ServerProcess; httpPort: number }> {
  const httpPort = freePort();
  const server = await ServerProcess.start(["--http-port", String(httpPort), ...args], launcher);
  await server.stdout.waitFor(`://127.0.0.1:${httpPort} in a browser`);
  return { server, httpPort };
}
