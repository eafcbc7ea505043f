import { CLIENT_SCRIPT } from "./server_process.ts";

export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs client.ts to completion with `input` on standard input. */
export async function runClient(args: string[], input = ""): Promise<ClientRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", CLIENT_SCRIPT, ...args],
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
