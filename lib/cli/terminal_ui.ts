import { writeTextSync } from "../util/write_text_sync.ts";
import type { ChatConsoleOptions } from "./chat_console.ts";
import { ChatConsole } from "./chat_console.ts";
import { type Key, KeyDecoder } from "./key_decoder.ts";
import { LineEditor } from "./line_editor.ts";
import { printable } from "../ui/printable.ts";
import { maskPasswords } from "../ui/input_line.ts";
import { nicknameProblem } from "../protocol/nickname.ts";
import {
  type PromptFrame,
  PromptRenderer,
  type TerminalSize,
  type VerbatimLine,
} from "./prompt_renderer.ts";
import { nextStdinChunk } from "./next_stdin_chunk.ts";
import { onStopSignal } from "./shutdown_signals.ts";
import { waitAtMost } from "../util/wait_at_most.ts";

/**
 * The interactive console: a prompt showing the mode and nickname, with incoming
 * lines printed above it so a half-typed line is never clobbered. The line
 * editor is our own rather than node:readline, whose Deno version measures the
 * whole line again for every character, so a pasted paragraph took seconds.
 * Returns the exit code.
 */
export async function runTerminalUi(
  options: Omit<ChatConsoleOptions, "output">,
): Promise<number> {
  const { style } = options;
  // A line with a password is never kept for Up to find.
  const editor = new LineEditor({ remember: (line) => maskPasswords(line) === line });
  let prompt = "";
  /** A line the console would not send (too long), given back to edit. */
  let notSent: string | undefined;
  /**
   * A question asked, while it is: keys go to an editor of its own, which keeps no history;
   * a password is drawn as nothing at all (no echo, as sudo or ssh). The chat line waits as
   * it was. `answered`: the line typed, or undefined when the user gave up (Ctrl+C, Ctrl+D).
   */
  let asking: {
    label: string;
    echo: boolean;
    editor: LineEditor;
    answered: (line: string | undefined) => void;
  } | undefined;
  const ask = (
    label: string,
    echo: boolean,
    answered: (line: string | undefined) => void,
  ) => {
    asking = { label, echo, editor: new LineEditor({ remember: () => false }), answered };
    terminal.changed();
  };
  const askPassword = (nickname: string, answered: (password: string | undefined) => void) =>
    ask(`Password for ${printable(nickname)}: `, false, answered);
  using terminal = new RawTerminal(() =>
    asking === undefined ? { prompt, line: editor.text, cursor: editor.cursor } : asking.echo
      ? {
        prompt: style.prompt(asking.label),
        line: asking.editor.text,
        cursor: asking.editor.cursor,
      }
      : { prompt: style.prompt(asking.label), line: "", cursor: 0 }
  );
  const chat = new ChatConsole({
    ...options,
    lobbyHistory: true,
    output: {
      event: (line) => terminal.print(line),
      status: (line) => terminal.print(line),
      command: (line) => terminal.print({ verbatim: line }),
      prompt(text) {
        prompt = style.prompt(text);
        terminal.changed();
      },
      notSent(line) {
        notSent = line;
      },
      askPassword(nickname) {
        if (asking !== undefined) return;
        askPassword(nickname, (password) => {
          if (password !== undefined) return chat.identify(nickname, password, true);
          terminal.print(
            style.notice(
              `* not identified - /identify PASSWORD takes ${printable(nickname)} later`,
            ),
          );
        });
      },
      askLogin(nickname) {
        // Asked again after a reconnect while the first question is still open: one will do.
        if (asking !== undefined) return;
        const withPassword = (name: string) =>
          askPassword(name, (password) => {
            if (password === undefined) quit.resolve();
            else chat.logIn(name, password);
          });
        if (nickname !== "") return withPassword(nickname);
        const askNickname = () =>
          ask("Nickname: ", true, (answer) => {
            if (answer === undefined) return quit.resolve();
            const name = answer.trim();
            // The server checks too; asking again here saves a refusal and a reconnect.
            const problem = nicknameProblem(name, "");
            if (problem === undefined) return withPassword(name);
            terminal.print(style.error(`! ${problem}`));
            askNickname();
          });
        askNickname();
      },
    },
  });

  /** A key while a question is asked: Enter answers it, Ctrl+C or Ctrl+D gives up. */
  const answerKey = (key: Key) => {
    const { label, echo, editor: answer, answered } = asking!;
    const outcome = answer.press(key);
    if (outcome === undefined) return;
    asking = undefined;
    const typed = outcome.kind === "submit" ? outcome.line : "";
    terminal.print(style.prompt((label + (echo ? printable(typed) : "")).trimEnd()));
    answered(typed === "" ? undefined : typed);
  };

  const quit = Promise.withResolvers<void>();
  /** A stop signal: leave without waiting for queued lines. */
  const leaveNow = Promise.withResolvers<void>();
  using _signals = onStopSignal(() => {
    quit.resolve();
    leaveNow.resolve();
  });
  const stopTyping = new AbortController();
  const typing = (async () => {
    const keys = new KeyDecoder();
    while (true) {
      const chunk = await nextStdinChunk(stopTyping.signal);
      if (!chunk) return;
      // A whole chunk before one redraw: a paste is a chunk of thousands of characters.
      for (const key of keys.decode(chunk)) {
        if (asking !== undefined) {
          answerKey(key);
          continue;
        }
        const outcome = editor.press(key);
        if (outcome?.kind === "quit") return;
        if (outcome?.kind === "submit") {
          // What was typed stays on the screen, as in a shell.
          terminal.print(prompt + printable(maskPasswords(outcome.line)));
          if (!chat.input(outcome.line)) return;
        }
      }
      // Unless more was typed after it (the next lines of a paste), as those would join it.
      if (notSent !== undefined && editor.text === "") editor.replace(notSent);
      notSent = undefined;
      terminal.render();
    }
  })();

  const gaveUp = chat.client.done.then((closed) => !closed);
  await Promise.race([quit.promise, typing, gaveUp]);
  stopTyping.abort();
  // Leave the shell a clean line, not our prompt. Out of raw mode, Ctrl+C is a signal again.
  terminal.close();
  const queued = chat.pendingReplies;
  if (queued > 0 && chat.client.isConnected) {
    // A paste followed by Ctrl+D: the lines still paced by the rate limit go out first, for
    // as long as they keep going (no progress for --timeout ends the wait).
    const done = Promise.race([chat.settled(), chat.client.done, leaveNow.promise]);
    if (!await waitAtMost(done, 250)) {
      terminal.print(
        style.notice(`* waiting for ${queued} request(s) to go out (Ctrl+C to leave now)`),
      );
      for (let before = queued; !await waitAtMost(done, options.replyTimeoutMs);) {
        if (chat.pendingReplies >= before) break;
        before = chat.pendingReplies;
      }
    }
    const left = chat.pendingReplies;
    if (left > 0) terminal.print(style.error(`! ${left} request(s) were not sent or not answered`));
  }
  await chat.client.close();
  return (await gaveUp) ? 1 : 0;
}

/**
 * The terminal in raw mode, with bracketed paste on, the prompt drawn at the
 * bottom and lines printed above it. Every way out puts it back: dispose, an
 * uncaught error, Deno.exit.
 */
class RawTerminal implements Disposable {
  readonly #frame: () => PromptFrame;
  readonly #renderer = new PromptRenderer();
  #above: (string | VerbatimLine)[] = [];
  #dirty = false;
  #closed = false;
  readonly #close = () => this.close();
  readonly #render = () => this.render();

  constructor(frame: () => PromptFrame) {
    this.#frame = frame;
    Deno.stdin.setRaw(true);
    write(BRACKETED_PASTE_ON);
    for (const event of EXIT_EVENTS) globalThis.addEventListener(event, this.#close);
    if (RESIZE_SIGNAL) Deno.addSignalListener(RESIZE_SIGNAL, this.#render);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Prints `line` above the prompt, at the next redraw; once closed, at once, wrapped as before. */
  print(line: string | VerbatimLine): void {
    if (this.#closed) {
      write(this.#renderer.render([line], undefined, terminalSize()));
      return;
    }
    this.#above.push(line);
    this.changed();
  }

  /** Redraws soon: once for all the events that arrive in one read from the server. */
  changed(): void {
    if (this.#dirty) return;
    this.#dirty = true;
    queueMicrotask(() => {
      if (this.#dirty) this.render();
    });
  }

  render(): void {
    if (this.#closed) return;
    this.#dirty = false;
    write(this.#renderer.render(this.#above.splice(0), this.#frame(), terminalSize()));
  }

  /** Prints what is still to be printed, erases the prompt and puts the terminal back. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const event of EXIT_EVENTS) globalThis.removeEventListener(event, this.#close);
    if (RESIZE_SIGNAL) Deno.removeSignalListener(RESIZE_SIGNAL, this.#render);
    try {
      write(this.#renderer.render(this.#above.splice(0), undefined, terminalSize()));
      write(BRACKETED_PASTE_OFF);
    } finally {
      Deno.stdin.setRaw(false);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

const BRACKETED_PASTE_ON = "\x1b[?2004h";
const BRACKETED_PASTE_OFF = "\x1b[?2004l";
const EXIT_EVENTS = ["unload", "error", "unhandledrejection"] as const;
/** Windows has no resize signal; there the size is read at every redraw only. */
const RESIZE_SIGNAL: Deno.Signal | undefined = Deno.build.os === "windows" ? undefined : "SIGWINCH";

function write(text: string): void {
  writeTextSync(Deno.stdout, text);
}

function terminalSize(): TerminalSize {
  try {
    return Deno.consoleSize();
  } catch {
    // Standard output is not the terminal (the UI only needs standard input to be one).
    return { columns: 80, rows: 24 };
  }
}
