/**
 * The longest delay setTimeout keeps (2^31 - 1 ms, about 24 days): Deno fires a longer
 * one at once, after a warning.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
