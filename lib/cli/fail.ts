const encoder = new TextEncoder();

/** Prints a plain-words error (no stack trace) on standard error and exits. */
export function fail(message: string, exitCode = 1): never {
  Deno.stderr.writeSync(encoder.encode(`${message}\n`));
  Deno.exit(exitCode);
}
