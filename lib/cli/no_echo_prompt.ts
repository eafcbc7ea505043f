import { nextStdinChunk } from "./next_stdin_chunk.ts";

const encoder = new TextEncoder();

/** The user gave up at the prompt (Ctrl+C, or Ctrl+D / the end of input). */
export class PromptCancelledError extends Error {
  override name = "PromptCancelledError";
}

/**
 * Asks on the terminal for a line that is not shown as it is typed (a password): the
 * prompt goes to standard error, and the terminal is raw until Enter. Backspace works;
 * Ctrl+C or Ctrl+D cancel. For a terminal only (Deno.stdin.isTerminal()).
 */
export async function promptWithoutEcho(prompt: string): Promise<string> {
  Deno.stderr.writeSync(encoder.encode(prompt));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  try {
    while (true) {
      const chunk = await nextStdinChunk();
      if (chunk == null) throw new PromptCancelledError("Cancelled: input ended");
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
        if (byte === 0x03 || byte === 0x04) throw new PromptCancelledError("Cancelled");
        if (byte === 0x7f || byte === 0x08) {
          // One character back: a UTF-8 sequence's continuation bytes go with it.
          while (bytes.length > 0 && (bytes.pop()! & 0xc0) === 0x80);
        } else bytes.push(byte);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
}
