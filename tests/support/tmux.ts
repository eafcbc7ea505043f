let sessions = 0;

/** A program running in a real pseudo-terminal (a tmux pane), typed into and read like a person would. */
export class TmuxSession implements AsyncDisposable {
  readonly #socket: string;

  private constructor(socket: string) {
    this.#socket = socket;
  }

  /** Starts `command` in a detached 100x30 pane with `env` added to its environment. */
  static async start(command: string[], env: Record<string, string> = {}): Promise<TmuxSession> {
    const session = new TmuxSession(`chat-test-${Deno.pid}-${sessions++}`);
    const envArgs = Object.entries(env).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
    // The shell prints the exit status where the screen shows it, and keeps the pane for reading.
    const shell = `${quote(command)}; echo "[exit $?]"; exec sleep 600`;
    await session.#tmux(
      "new-session",
      "-d",
      "-s",
      "main",
      "-x",
      "100",
      "-y",
      "30",
      ...envArgs,
      shell,
    );
    return session;
  }

  /** Types text literally (no key names). */
  async type(text: string): Promise<void> {
    await this.#tmux("send-keys", "-t", "main", "-l", text);
  }

  /** Presses named keys: "Enter", "C-c", "C-d". */
  async press(...keys: string[]): Promise<void> {
    await this.#tmux("send-keys", "-t", "main", ...keys);
  }

  /** The screen as text (tmux drops trailing spaces); with `escapes`, colour codes included. */
  async screen(escapes = false): Promise<string> {
    return await this.#tmux("capture-pane", "-p", "-t", "main", ...(escapes ? ["-e"] : []));
  }

  /** Waits until the screen satisfies `test` (looked at every 50 ms), up to `ms`. */
  async waitForScreen(test: RegExp | ((screen: string) => boolean), ms = 15_000): Promise<string> {
    const matches = typeof test === "function" ? test : (screen: string) => test.test(screen);
    const giveUpAt = Date.now() + ms;
    while (true) {
      const screen = await this.screen();
      if (matches(screen)) return screen;
      if (Date.now() > giveUpAt) {
        throw new Error(`Timed out after ${ms} ms: screen matching ${test}; screen:\n${screen}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The program's exit status once it has exited, waiting up to `ms`. */
  async exitStatus(ms = 15_000): Promise<number> {
    const screen = await this.waitForScreen(/^\[exit \d+\]$/m, ms);
    return Number(/^\[exit (\d+)\]$/m.exec(screen)![1]);
  }

  async #tmux(...args: string[]): Promise<string> {
    const output = await new Deno.Command("tmux", {
      args: ["-L", this.#socket, ...args],
      stdin: "null",
      // The pane starts from our environment less NO_COLOR (CI sets it); tests add it back with `env`.
      clearEnv: true,
      env: inheritedEnvironment(),
    }).output();
    if (!output.success) {
      throw new Error(`tmux ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    return new TextDecoder().decode(output.stdout);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await new Deno.Command("tmux", {
      args: ["-L", this.#socket, "kill-server"],
      stdin: "null",
      stderr: "null",
    }).output();
  }
}

function inheritedEnvironment(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.NO_COLOR;
  return env;
}

function quote(command: string[]): string {
  return command.map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(" ");
}
