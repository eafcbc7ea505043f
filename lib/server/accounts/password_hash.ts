import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { Semaphore, SemaphoreTimeoutError } from "../../util/semaphore.ts";

/**
 * scrypt's cost: N = 2^15, r = 8, p = 1, as OWASP recommends. One hash takes about 100 ms
 * of one core (measured on this project's 2-core test machine: 90-105 ms) and 32 MiB.
 */
const LOG2_N = 15;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/**
 * Hashes computed at once in the whole process: each holds 32 MiB and a core for 100 ms,
 * so a flood of logins waits its turn rather than take all memory and CPU.
 */
const HASHES_AT_ONCE = new Semaphore(2);
/** How long a login may wait for its turn before it is refused. */
const HASH_WAIT_MS = 5000;

/** Hashes for a password are being computed too often: no turn came free in time. */
export class PasswordHashBusyError extends Error {
  override name = "PasswordHashBusyError";
}

/** A stored hash this server cannot read (another scheme, or damaged). */
export class PasswordHashFormatError extends Error {
  override name = "PasswordHashFormatError";
}

/**
 * A salted scrypt hash of `password`, self-describing so that its cost can be raised
 * later without invalidating old hashes: "scrypt$15$8$1$<salt base64>$<hash base64>".
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, LOG2_N, BLOCK_SIZE, PARALLELISM);
  return [
    "scrypt",
    LOG2_N,
    BLOCK_SIZE,
    PARALLELISM,
    salt.toString("base64"),
    hash.toString("base64"),
  ]
    .join("$");
}

/** Whether `password` matches `encoded` (from hashPassword), compared in constant time. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split("$");
  const [scheme, logN, r, p, salt, hash] = parts;
  const numbers = [logN, r, p].map(Number);
  if (
    parts.length !== 6 || scheme !== "scrypt" ||
    !numbers.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= 32)
  ) {
    throw new PasswordHashFormatError("Cannot check the password: the stored hash is not scrypt's");
  }
  const expected = Buffer.from(hash, "base64");
  const actual = await derive(
    password,
    Buffer.from(salt, "base64"),
    numbers[0],
    numbers[1],
    numbers[2],
    expected.length,
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The hash verifyDummy checks against, made at its first use. */
let dummyHash: Promise<string> | undefined;

/**
 * Checks `password` against a hash of no password anyone has, and answers false: for a
 * name without an account, so that a login takes as long whether it is registered or not.
 */
export function verifyDummy(password: string): Promise<boolean> {
  dummyHash ??= hashPassword(crypto.randomUUID());
  return dummyHash.then((hash) => verifyPassword(password, hash)).then(() => false);
}

function derive(
  password: string,
  salt: Buffer,
  logN: number,
  r: number,
  p: number,
  length = HASH_BYTES,
): Promise<Buffer> {
  const N = 2 ** logN;
  // scrypt needs 128 * N * r bytes; Node's default cap (32 MiB) is just under ours.
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * p + 1024 * 1024 };
  return HASHES_AT_ONCE.run(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        // One spelling of "é", whichever way a keyboard composes it.
        scrypt(password.normalize("NFC"), salt, length, options, (error, key) => {
          if (error) reject(error);
          else resolve(key);
        });
      }),
    HASH_WAIT_MS,
  ).catch((error) => {
    if (error instanceof SemaphoreTimeoutError) {
      throw new PasswordHashBusyError(
        "Cannot check the password now: the server is busy checking others; try again shortly",
      );
    }
    throw error;
  });
}
