import { CLIENT_SCRIPT } from "./server_process.ts";

export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the client to completion with `input` on standard input. `launcher` runs
 * it: `deno run client.ts` unless told otherwise.
 */
export async function runClient(
  args: string[],
  input = "",
  launcher: string[] = [Deno.execPath(), "run", "--allow-net", CLIENT_SCRIPT],
): Promise<ClientRun> {
  const [command, ...launcherArgs] = launcher;
  const child = new Deno.Command(command, {
    args: [...launcherArgs, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = await child.output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A loopback port with nothing listening on it. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}
