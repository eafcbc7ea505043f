import type { TestClient } from "./test_client.ts";

/**
 * Waits until `compute` finds what it looks for in what the client has received: it looks
 * again each time a message arrives, instead of sleeping. Read `received`, not the inbox's
 * cursor, in `compute`, so that no wait can skip a message another one needs.
 */
export async function until<T>(
  client: TestClient,
  compute: () => T | undefined,
  what: string,
  ms = 15_000,
): Promise<T> {
  const giveUpAt = Date.now() + ms;
  while (true) {
    const found = compute();
    if (found !== undefined) return found;
    // Any message at all wakes this up: the next one not yet looked at, or a new one.
    await client.nextMatching(() => true, Math.max(1, giveUpAt - Date.now()), what);
  }
}
