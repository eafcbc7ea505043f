import { PROGRAMS } from "../../scripts/programs.ts";
import { type CommandRun, runCommand } from "./run_command.ts";
import { CLIENT_SCRIPT } from "./server_process.ts";

const CLIENT_PERMISSIONS = PROGRAMS.find((program) => program.name === "client")!
  .permissions("linux");

/**
 * Runs the client to completion with `input` on standard input. `launcher` runs
 * it: `deno run client.ts`, with the permissions it ships with, unless told otherwise.
 */
export function runClient(
  args: string[],
  input = "",
  launcher: string[] = [Deno.execPath(), "run", ...CLIENT_PERMISSIONS, CLIENT_SCRIPT],
): Promise<CommandRun> {
  return runCommand([...launcher, ...args], { input });
}

/** A loopback port with nothing listening on it. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}
