import { Action } from "../../gen/chat/v1/chat_pb.ts";

/** What a typed line asks for. */
export type InputCommand =
  | { kind: "chat"; action: Action; text: string }
  | { kind: "mode"; action: Action }
  | { kind: "nick"; nickname: string }
  | { kind: "who" }
  | { kind: "ping" }
  | { kind: "help" }
  | { kind: "quit" }
  | { kind: "empty" }
  | { kind: "invalid"; message: string };

export const HELP_TEXT = [
  "Type a line to send it in the current mode. Commands:",
  "  /echo [text]       switch to echo mode, or send one echo",
  "  /broadcast [text]  switch to broadcast mode, or send one broadcast",
  "  /nick NAME         change your nickname",
  "  /who               list who is online",
  "  /ping              measure the round trip to the server",
  "  /help              show this help",
  "  /quit              leave (Ctrl+D and Ctrl+C work too)",
  "  //text             send a line that starts with /",
].join("\n");

/** Reads one input line; plain text is a chat line in `mode`. */
export function parseInputLine(line: string, mode: Action): InputCommand {
  if (line.startsWith("//")) return { kind: "chat", action: mode, text: line.slice(1) };
  if (!line.startsWith("/")) {
    return line.trim() === "" ? { kind: "empty" } : { kind: "chat", action: mode, text: line };
  }
  const match = /^\/(\S*)\s?(.*)$/s.exec(line)!;
  const [, name, rest] = match;
  switch (name.toLowerCase()) {
    case "echo":
    case "broadcast": {
      const action = name.toLowerCase() === "echo" ? Action.ECHO : Action.BROADCAST;
      return rest.trim() === "" ? { kind: "mode", action } : { kind: "chat", action, text: rest };
    }
    case "nick":
      return rest.trim() === ""
        ? { kind: "invalid", message: "Usage: /nick NAME" }
        : { kind: "nick", nickname: rest.trim() };
    case "who":
      return { kind: "who" };
    case "ping":
      return { kind: "ping" };
    case "help":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
      return { kind: "quit" };
    default:
      return { kind: "invalid", message: `Unknown command /${name} - type /help for the list` };
  }
}
