/**
 * Resolves with `promise`, or rejects with "Timed out after N ms: what" if it takes
 * too long. `what` may be a function, to build a costly description only on failure.
 */
export async function deadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string | (() => string),
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() =>
      reject(
        new Error(`Timed out after ${ms} ms: ${typeof what === "string" ? what : what()}`),
      ), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
