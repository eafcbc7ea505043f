import { type Command, CommanderError } from "@commander-js/extra-typings";
import { exit } from "./exit.ts";

/** Exit code for a command line that cannot be understood. */
export const USAGE_EXIT_CODE = 2;

/**
 * Settings every program shares: exits handled by `runProgram`, and no colour
 * probing, which would read environment variables the program has no permission for.
 */
// deno-lint-ignore no-explicit-any
export function configureProgram<T extends Command<any, any, any>>(program: T): T {
  program.exitOverride().configureOutput({
    getOutHasColors: () => false,
    getErrHasColors: () => false,
  });
  return program;
}

/**
 * Runs commander's parse. Help and --version exit 0; a bad option or value exits 2
 * after commander's one-line message.
 */
export async function runProgram(parse: () => Promise<unknown>): Promise<void> {
  try {
    await parse();
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    await exit(error.exitCode === 0 ? 0 : USAGE_EXIT_CODE);
  }
}

/**
 * Parses a program's arguments, as `runProgram` does. A leading "--" is dropped: npm's
 * habit, `deno task server -- --port 9000`, passes it on, and commander would take every
 * option after it for an argument.
 */
// deno-lint-ignore no-explicit-any
export function parseArguments(program: Command<any, any, any>, args: string[]): Promise<void> {
  const options = args[0] === "--" ? args.slice(1) : args;
  return runProgram(() => program.parseAsync(options, { from: "user" }));
}
