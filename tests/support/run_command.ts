/** What a command that ran to its end printed, and its exit code. */
export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunCommandOptions {
  cwd?: string;
  /** Added to the environment. */
  env?: Record<string, string>;
  /** Written to standard input, which then closes; without it, standard input is empty. */
  input?: string;
}

/** Runs `command` (the program, then its arguments) to its end. */
export async function runCommand(
  [program, ...args]: string[],
  { cwd, env, input }: RunCommandOptions = {},
): Promise<CommandRun> {
  const child = new Deno.Command(program, {
    args,
    cwd,
    env,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
