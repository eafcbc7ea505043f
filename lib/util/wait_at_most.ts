import { MAX_TIMER_MS } from "./max_timer_ms.ts";
/** Waits for `promise`, but no longer than `ms`. Resolves true if it settled in time. */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => {
    // setTimeout fires at once past 2^31 - 1 ms: 24.8 days is as good as longer.
    timer = setTimeout(() => resolve(false), Math.min(Math.max(0, ms), MAX_TIMER_MS));
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
