const encoder = new TextEncoder();

/** Writes all of `text` as UTF-8: a sync write to a pipe or console may take only part of it. */
export function writeTextSync(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) {
    written += stream.writeSync(bytes.subarray(written));
  }
}
