import { optionalEnv } from "../util/optional_env.ts";

/**
 * A debug mode for code that keeps a view of a buffer past the call that handed it over
 * (issue 13, finding 1: frames queued as views of the reused TCP read buffer). With
 * CHAT_POISON_BUFFERS=1 in the environment, read once at start-up, the owners of reused
 * buffers fill them with POISON_BYTE as soon as the call that lent them returns, so a view
 * kept too long reads garbage at once, not only when the next read happens to land there.
 * The tests' server processes run with it on (tests/support/server_process.ts).
 *
 * A process that may not read the variable (`deno run --allow-net`) runs without it.
 */
export const POISON_BUFFERS = optionalEnv("CHAT_POISON_BUFFERS") === "1";

/**
 * Not valid UTF-8 (a lead byte followed by another lead byte), and as a protobuf tag a
 * varint that never ends: a poisoned payload decodes as MALFORMED, poisoned text fails
 * a fatal TextDecoder, and both stand out in a hex dump.
 */
export const POISON_BYTE = 0xdb;

/**
 * Fills `bytes` with POISON_BYTE when the debug mode is on; does nothing otherwise. Call it
 * on memory you lent to a callback and are about to reuse, once the callback has returned.
 */
export function poisonBuffer(bytes: Uint8Array): void {
  if (POISON_BUFFERS) bytes.fill(POISON_BYTE);
}
