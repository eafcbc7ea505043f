const buffer = new Uint8Array(64 * 1024);
/** Chunks read and not yet taken; null is the end of input. */
const unclaimed: (Uint8Array | null)[] = [];
let reading: Promise<void> | undefined;

/**
 * The next chunk of standard input (null at its end), or undefined once `signal` is
 * aborted. Deno cannot cancel a read of stdin, so a reader that stopped waiting (the
 * line editor, when the client gives up) would otherwise take the next chunk with it:
 * the Enter that "Press Enter to close" waits for. Here that chunk waits for the next
 * caller.
 */
export async function nextStdinChunk(signal?: AbortSignal): Promise<Uint8Array | null | undefined> {
  const aborted = Promise.withResolvers<void>();
  const onAbort = () => aborted.resolve();
  signal?.addEventListener("abort", onAbort);
  try {
    while (true) {
      if (unclaimed.length > 0) return unclaimed.shift();
      if (signal?.aborted) return undefined;
      reading ??= read();
      await Promise.race([reading, aborted.promise]);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

async function read(): Promise<void> {
  try {
    const count = await Deno.stdin.read(buffer);
    // A copy: the buffer is read into again while this chunk may still wait for a caller.
    unclaimed.push(count === null ? null : buffer.slice(0, count));
  } finally {
    reading = undefined;
  }
}
