import { writeTextSync } from "../util/write_text_sync.ts";
import { ChatConsole, type ChatConsoleOptions } from "./chat_console.ts";

export interface ScriptOptions extends Omit<ChatConsoleOptions, "output"> {
  /** The lines to send, in order: standard input, or the one-shot message. */
  lines: AsyncIterable<string> | Iterable<string>;
}

const writeLine = (stream: { writeSync(p: Uint8Array): number }) => (line: string) =>
  writeTextSync(stream, `${line}\n`);

/**
 * Non-interactive use: sends each line, prints events on standard output (status
 * on standard error), and exits once every request has its reply. Returns the
 * exit code: 0 when all went through, 1 when the server refused a request (the
 * `--nick` included, in which case nothing is sent), the connection was lost, or
 * a reply did not come in time.
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
  const noReply = chat.noReply.then(() => "no reply" as const);
  const settled = () => chat.settled().then(() => "settled" as const);
  // The lines were meant to go out under that name: if it is refused, none does.
  let outcome = options.nickname === ""
    ? "settled"
    : await Promise.race([settled(), lost, noReply]);
  if (outcome === "settled" && !chat.requestFailed) {
    const sent = (async () => {
      for await (const line of options.lines) {
        if (!chat.input(line)) break;
      }
      return "sent" as const;
    })();
    // Lines waiting in the outbox for the rate limit are pending like the rest.
    outcome = await Promise.race([sent.then(settled), lost, noReply]);
  }
  if (outcome === "no reply") {
    status(`! no reply from the server within ${options.replyTimeoutMs / 1000} s`);
    return 1;
  }
  if (outcome === "lost") return 1;
  const stillConnected = chat.client.isConnected;
  await chat.client.close();
  return stillConnected && !chat.requestFailed ? 0 : 1;
}
