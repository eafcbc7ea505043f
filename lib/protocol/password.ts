import { utf8Length } from "./utf8_length.ts";

/** A password's length in UTF-8 bytes: long enough to resist guessing, short enough to hash. */
export const MIN_PASSWORD_BYTES = 8;
export const MAX_PASSWORD_BYTES = 1024;

/** Why `password` cannot be an account's, in plain words, or undefined when it can. */
export function passwordProblem(password: string): string | undefined {
  const bytes = utf8Length(password);
  if (bytes < MIN_PASSWORD_BYTES) {
    return `the password is ${bytes} bytes long; it needs at least ${MIN_PASSWORD_BYTES}`;
  }
  if (bytes > MAX_PASSWORD_BYTES) {
    return `the password is ${bytes} bytes long; the limit is ${MAX_PASSWORD_BYTES}`;
  }
  return undefined;
}
