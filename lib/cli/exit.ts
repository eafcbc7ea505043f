import { nextStdinChunk } from "./next_stdin_chunk.ts";
import { ownsConsoleWindow } from "./windows_console.ts";

const encoder = new TextEncoder();

/**
 * Exits with `code`. After a failure in a console window of its own (a
 * double-click on Windows), it first waits for Enter: otherwise the window would
 * vanish before anyone could read why.
 */
export async function exit(code: number): Promise<never> {
  if (code !== 0 && Deno.stdin.isTerminal() && ownsConsoleWindow()) {
    Deno.stderr.writeSync(encoder.encode("\nPress Enter to close\n"));
    while (true) {
      const chunk = await nextStdinChunk();
      // Enter is CR in a raw console, LF in a cooked one.
      if (!chunk || chunk.includes(0x0a) || chunk.includes(0x0d)) break;
    }
  }
  Deno.exit(code);
}

/** Prints a plain-words error (no stack trace) on standard error, then exits. */
export function fail(message: string, code = 1): Promise<never> {
  Deno.stderr.writeSync(encoder.encode(`${message}\n`));
  return exit(code);
}
