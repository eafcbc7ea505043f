import { SERVER_SCRIPT } from "./server_process.ts";

/** `deno run server.ts` allowed to read and write `dir` alone. */
export function launcherFor(dir: string): string[] {
  return [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env=CHAT_POISON_BUFFERS",
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
    SERVER_SCRIPT,
  ];
}

/** A temporary folder, removed when disposed. */
export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
