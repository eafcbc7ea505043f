/**
 * A pending read holds its buffer, so an idle connection keeps only a small one: a
 * connection whose reads fill the buffer gets a bigger one, up to the largest, and is
 * back to the smallest after a read that did not fill it (the socket had no more), so a
 * client that sent 64 KB and went idle does not keep 64 KB of the server's.
 */
export const SMALLEST_READ_BYTES = 512;
const LARGEST_READ_BYTES = 64 * 1024;

/**
 * The buffer for the next read, after one that took `count` bytes into `buffer`:
 * the same one, or a new one of the size that read calls for. Whoever reads must
 * have copied what it keeps, since a new buffer may replace the old one.
 */
export function nextReadBuffer(
  buffer: Uint8Array<ArrayBuffer>,
  count: number,
): Uint8Array<ArrayBuffer> {
  if (count === buffer.length) {
    return buffer.length < LARGEST_READ_BYTES
      ? new Uint8Array(Math.min(buffer.length * 8, LARGEST_READ_BYTES))
      : buffer;
  }
  return buffer.length > SMALLEST_READ_BYTES ? new Uint8Array(SMALLEST_READ_BYTES) : buffer;
}
