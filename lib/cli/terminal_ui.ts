import process from "node:process";
import * as readline from "node:readline";
import type { ChatConsoleOptions } from "./chat_console.ts";
import { ChatConsole } from "./chat_console.ts";
import { onStopSignal } from "./shutdown_signals.ts";

/**
 * The interactive console: a prompt showing the mode and nickname, with incoming
 * lines printed above it so a half-typed line is never clobbered. Returns the
 * exit code.
 */
export async function runTerminalUi(
  options: Omit<ChatConsoleOptions, "output">,
): Promise<number> {
  const { style } = options;
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    prompt: "",
  });
  // Clear the prompt line, print, then redraw the prompt with what was typed so far.
  const printAbove = (line: string) => {
    readline.clearLine(process.stdout, 0);
    readline.cursorTo(process.stdout, 0);
    process.stdout.write(`${line}\n`);
    rl.prompt(true);
  };
  const chat = new ChatConsole({
    ...options,
    output: {
      event: printAbove,
      status: printAbove,
      prompt(prompt) {
        rl.setPrompt(style.prompt(prompt));
        rl.prompt(true);
      },
    },
  });

  const quit = Promise.withResolvers<void>();
  rl.on("line", (line) => {
    if (chat.input(line)) rl.prompt();
    else quit.resolve();
  });
  rl.on("close", () => quit.resolve()); // Ctrl+D
  rl.on("SIGINT", () => quit.resolve()); // Ctrl+C while the line editor has the terminal
  using _signals = onStopSignal(() => quit.resolve());

  const gaveUp = chat.client.done.then((closed) => !closed);
  await Promise.race([quit.promise, gaveUp]);
  rl.close();
  // Leave the shell a clean line, not our prompt.
  readline.clearLine(process.stdout, 0);
  readline.cursorTo(process.stdout, 0);
  await chat.client.close();
  return (await gaveUp) ? 1 : 0;
}
