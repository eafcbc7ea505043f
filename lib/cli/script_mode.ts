import { waitAtMost } from "../util/wait_at_most.ts";
import { ChatConsole, type ChatConsoleOptions } from "./chat_console.ts";

export interface ScriptOptions extends Omit<ChatConsoleOptions, "output"> {
  /** The lines to send, in order: standard input, or the one-shot message. */
  lines: AsyncIterable<string> | Iterable<string>;
}

const encoder = new TextEncoder();
const writeLine = (stream: { writeSync(p: Uint8Array): number }) => (line: string) => {
  const bytes = encoder.encode(`${line}\n`);
  for (let written = 0; written < bytes.length;) {
    written += stream.writeSync(bytes.subarray(written));
  }
};

/**
 * Non-interactive use: sends each line, prints events on standard output (status
 * on standard error), and exits once every request has its reply. Returns the
 * exit code: 0 when all went through, 1 when the server refused a request, the
 * connection was lost, or a reply did not come in time.
 */
export async function runScript(options: ScriptOptions): Promise<number> {
  const chat = new ChatConsole({
    ...options,
    reconnect: false,
    output: { event: writeLine(Deno.stdout), status: writeLine(Deno.stderr) },
  });
  const status = writeLine(Deno.stderr);
  if (!await chat.connected) return 1;

  const lost = chat.client.done.then(() => "lost" as const);
  const sent = (async () => {
    for await (const line of options.lines) {
      if (!chat.input(line)) break;
    }
    return "sent" as const;
  })();
  if (await Promise.race([sent, lost]) === "lost") return 1;

  const answered = await waitAtMost(Promise.race([chat.settled(), lost]), options.replyTimeoutMs);
  if (!answered) {
    status(`! no reply from the server within ${options.replyTimeoutMs / 1000} s`);
    return 1;
  }
  const stillConnected = chat.client.isConnected;
  await chat.client.close();
  return stillConnected && !chat.requestFailed ? 0 : 1;
}
