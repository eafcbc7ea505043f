/**
 * Writes all of `bytes` to `conn`, which may take only part of them at a time. `onWritten`
 * hears the size of each part, for byte counters.
 */
export async function writeAll(
  conn: Pick<Deno.Conn, "write">,
  bytes: Uint8Array,
  onWritten?: (count: number) => void,
): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    const count = await conn.write(bytes.subarray(written));
    written += count;
    onWritten?.(count);
  }
}
