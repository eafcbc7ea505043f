import process from "node:process";
import * as readline from "node:readline";
import type { ClientCommandLine } from "./client_command_line.ts";
import { askConnection } from "./ask_connection.ts";
import { runScript } from "./script_mode.ts";
import { useSystemRootStore } from "./system_root_store.ts";
import { createStyle } from "../ui/style.ts";
import { runTerminalUi } from "./terminal_ui.ts";
import { PasswordFileError, readPasswordFile } from "./read_password_file.ts";
import { USAGE_EXIT_CODE } from "./run_program.ts";
import { writeTextSync } from "../util/write_text_sync.ts";

/** Picks the mode (one-shot, piped or interactive) and runs it; returns the exit code. */
export async function runClient(commandLine: ClientCommandLine): Promise<number> {
  const answers = commandLine.noArguments && Deno.stdin.isTerminal()
    ? await askConnection(commandLine)
    : commandLine;
  // Left at the address or nickname prompt: nothing was asked of the server.
  if (answers === undefined) return 0;
  const { hostname, port, nickname, tls } = answers;
  if (tls !== undefined) useSystemRootStore();
  let password = "";
  try {
    if (commandLine.passwordFile !== undefined) {
      password = await readPasswordFile(commandLine.passwordFile);
    }
  } catch (error) {
    if (!(error instanceof PasswordFileError)) throw error;
    writeTextSync(Deno.stderr, `${error.message}\n`);
    return USAGE_EXIT_CODE;
  }
  const common = {
    hostname,
    port,
    nickname,
    password,
    passwordFile: commandLine.passwordFile,
    tls,
    mode: commandLine.mode,
    connectAttempts: commandLine.retries + 1,
    reconnect: true,
    replyTimeoutMs: commandLine.replyTimeoutSeconds * 1000,
  };
  if (commandLine.oneShotText !== undefined) {
    return runScript({
      ...common,
      style: createStyle(false),
      lines: [commandLine.oneShotText],
      repliesOnly: true,
    });
  }
  if (!Deno.stdin.isTerminal()) {
    const reader = readline.createInterface({ input: process.stdin, terminal: false });
    // Iterate from now on: readline drops the lines that arrive while nothing listens.
    const iterator = reader[Symbol.asyncIterator]();
    const lines = { [Symbol.asyncIterator]: () => iterator };
    return runScript({ ...common, style: createStyle(false), lines });
  }
  return runTerminalUi({
    ...common,
    // The user sees no line numbers: a line not sent is named by its words.
    lineNumbers: false,
    style: createStyle(Deno.stdout.isTerminal() && !Deno.noColor),
  });
}
