import { exit, fail } from "./exit.ts";
import { useUtf8Console } from "./windows_console.ts";

/**
 * Runs a program's main function and exits with its code. An unexpected error
 * is still reported in words, and a console window of its own stays open to show it.
 */
export async function runMain(main: () => Promise<number>): Promise<never> {
  useUtf8Console();
  let code: number;
  try {
    code = await main();
  } catch (error) {
    // A permission the program was not given (it never prompts): Deno's one line says which.
    if (error instanceof Deno.errors.NotCapable) return fail(error.message);
    return fail(`Unexpected error: ${error instanceof Error ? error.stack : String(error)}`);
  }
  return exit(code);
}
