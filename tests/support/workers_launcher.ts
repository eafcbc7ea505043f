import { SERVER_SCRIPT } from "./server_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Runs the server for `--workers`, as ServerProcess.start's launcher: --workers takes
 * --unstable-net (SO_REUSEPORT); each worker loads the server's modules again, which
 * takes read access to them; --allow-env is for --redis.
 */
export const WORKERS_LAUNCHER = [
  Deno.execPath(),
  "run",
  "--allow-net",
  "--allow-env",
  `--allow-read=${ROOT}`,
  "--unstable-net",
  SERVER_SCRIPT,
];
