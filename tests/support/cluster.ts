import { SERVER_SCRIPT, ServerProcess } from "./server_process.ts";

/** Cluster servers need --allow-env: the Redis client reads the environment as it loads. */
const CLUSTER_LAUNCHER = [Deno.execPath(), "run", "--allow-net", "--allow-env", SERVER_SCRIPT];

/**
 * Starts a real server in the cluster behind `redisUrl` and waits until it has joined
 * (its first sync with Redis is done), so clients connected from now on are seen cluster-wide.
 */
export async function startClusterServer(
  redisUrl: string,
  args: string[] = [],
): Promise<ServerProcess> {
  const server = await ServerProcess.start(["--redis", redisUrl, ...args], CLUSTER_LAUNCHER);
  try {
    await server.stdout.waitFor("joined the cluster", 10_000);
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
  return server;
}
