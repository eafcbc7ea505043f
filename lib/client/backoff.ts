/** When to retry: exponential, capped, with jitter so that clients dropped together do not return together. */
export interface BackoffOptions {
  /** The first delay. @default 500 */
  initialMs: number;
  /** The longest delay. @default 8000 */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 500,
  maxMs: 8000,
});

/** The delay before retry number `attempt` (1 for the first retry): 50-100% of the capped exponential. */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}
