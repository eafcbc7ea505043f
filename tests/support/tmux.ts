let sessions = 0;

/** A program running in a real pseudo-terminal (a tmux pane), typed into and read like a person would. */
export class TmuxSession implements AsyncDisposable {
  readonly #socket: string;

  private constructor(socket: string) {
    this.#socket = socket;
  }

  /**
   * Starts `command` in a detached pane (100x30 unless told) with `env` added to its
   * environment, in folder `cwd` (the test's unless told).
   */
  static async start(
    command: string[],
    env: Record<string, string> = {},
    { columns = 100, rows = 30, cwd = Deno.cwd() }: {
      columns?: number;
      rows?: number;
      cwd?: string;
    } = {},
  ): Promise<TmuxSession> {
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
      String(columns),
      "-y",
      String(rows),
      "-c",
      cwd,
      ...envArgs,
      shell,
    );
    return session;
  }

  /**
   * Resizes the pane, as a user dragging the window's edge would: tmux rewraps
   * what it shows. Returns once the program's terminal has the new size (tmux may
   * tell it later than it rewraps, which no real terminal does).
   */
  async resize(columns: number, rows: number): Promise<void> {
    await this.#tmux("resize-window", "-t", "main", "-x", String(columns), "-y", String(rows));
    const tty = (await this.#tmux("display", "-p", "-t", "main", "#{pane_tty}")).trim();
    await waitFor(
      async () => {
        const output = await new Deno.Command("stty", { args: ["-F", tty, "size"] }).output();
        return new TextDecoder().decode(output.stdout).trim();
      },
      (size) => size === `${rows} ${columns}`,
      5_000,
      `the size of ${tty} to be ${rows} ${columns}`,
    );
  }

  /** Types text literally (no key names). */
  async type(text: string): Promise<void> {
    await this.#tmux("send-keys", "-t", "main", "-l", text);
  }

  /** Pastes text as a terminal does, inside bracketed-paste markers if the program asked for them. */
  async paste(text: string): Promise<void> {
    await this.#tmux("set-buffer", "-b", "paste", "--", text);
    await this.#tmux("paste-buffer", "-p", "-d", "-b", "paste", "-t", "main");
  }

  /** Presses named keys: "Enter", "C-c", "C-d". */
  async press(...keys: string[]): Promise<void> {
    await this.#tmux("send-keys", "-t", "main", ...keys);
  }

  /** The screen as text (tmux drops trailing spaces); with `escapes`, colour codes included. */
  async screen(escapes = false): Promise<string> {
    return await this.#tmux("capture-pane", "-p", "-t", "main", ...(escapes ? ["-e"] : []));
  }

  /**
   * Everything the pane has shown, the scrollback above the screen included, with
   * rows that a long line wrapped onto joined back into that line.
   */
  async transcript(): Promise<string[]> {
    const text = await this.#tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "main");
    return text.trimEnd().split("\n").map((line) => line.trimEnd());
  }

  /** Where the cursor is on the screen, counted from 0 at the top left. */
  async cursor(): Promise<{ column: number; row: number }> {
    const [column, row] =
      (await this.#tmux("display", "-p", "-t", "main", "#{cursor_x} #{cursor_y}"))
        .trim().split(" ").map(Number);
    return { column, row };
  }

  /** Waits until the cursor is in `column` (looked at every 50 ms), up to `ms`. */
  waitForCursorColumn(column: number, ms = 15_000): Promise<{ column: number; row: number }> {
    return waitFor(
      () => this.cursor(),
      (cursor) => cursor.column === column,
      ms,
      `cursor in column ${column}`,
    );
  }

  /** Waits until the screen satisfies `test` (looked at every 50 ms), up to `ms`. */
  waitForScreen(test: RegExp | ((screen: string) => boolean), ms = 15_000): Promise<string> {
    const matches = typeof test === "function" ? test : (screen: string) => test.test(screen);
    return waitFor(() => this.screen(), matches, ms, `screen matching ${test}`);
  }

  /** Waits until the transcript satisfies `test` (looked at every 50 ms), up to `ms`. */
  waitForTranscript(test: (lines: string[]) => boolean, ms = 15_000): Promise<string[]> {
    return waitFor(() => this.transcript(), test, ms, `transcript matching ${test}`);
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

async function waitFor<T>(
  read: () => Promise<T>,
  test: (value: T) => boolean,
  ms: number,
  what: string,
): Promise<T> {
  const giveUpAt = Date.now() + ms;
  while (true) {
    const value = await read();
    if (test(value)) return value;
    if (Date.now() > giveUpAt) {
      const shown = Array.isArray(value) ? value.join("\n") : value;
      throw new Error(`Timed out after ${ms} ms: ${what}; it was:\n${shown}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
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
