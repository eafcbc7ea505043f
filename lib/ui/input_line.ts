import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { passwordProblem } from "../protocol/password.ts";
import { roomKey, roomNameProblem } from "../protocol/room_name.ts";
import { joinedSentence } from "./account_text.ts";

/** What a typed line asks for, without rooms, private messages or history. */
export type BasicInputCommand =
  | { kind: "chat"; action: Action; text: string }
  | { kind: "mode"; action: Action }
  | { kind: "nick"; nickname: string }
  | { kind: "who" }
  | { kind: "ping" }
  | { kind: "help" }
  | { kind: "quit" }
  | { kind: "empty" }
  | { kind: "invalid"; message: string };

/** What a typed line asks for. Room names are given as rooms are known: lower case. */
export type InputCommand =
  | Exclude<BasicInputCommand, { kind: "who" }>
  /** room: undefined for the current room (/who: who is in it). */
  | { kind: "who"; room?: string }
  | { kind: "join"; room: string }
  | { kind: "part"; room?: string }
  | { kind: "rooms" }
  | { kind: "private"; nickname: string; text: string }
  /** count: undefined for the server's default (50). */
  | { kind: "history"; count?: number }
  /** nickname: undefined for the one the server last said is registered, or the current one. */
  | { kind: "identify"; nickname?: string; password: string }
  | { kind: "register"; password: string }
  | { kind: "password"; oldPassword: string; newPassword: string }
  | { kind: "unregister"; password: string };

/** The most messages one /history asks for (HistoryRequest.count). */
export const MAX_HISTORY_COUNT = 200;

/** The account commands, for the help of the terminal and of the page. */
export const ACCOUNT_HELP_LINES: readonly string[] = [
  "Accounts (the passwords you type are never shown again):",
  "  /identify [NAME] PASSWORD  take your registered nickname (by default the one refused)",
  "  /register PASSWORD         register your nickname: from then on it takes the password",
  "  /password OLD NEW          change your account's password",
  "  /unregister PASSWORD       delete your account; anyone may take the nickname again",
];

export const HELP_TEXT = [
  "Type a line to send it to the current room in the current mode. Commands:",
  "  /echo [text]       switch to echo mode, or send one echo",
  "  /broadcast [text]  switch to broadcast mode, or send one broadcast",
  "  /join #room        join a room (created if new) and talk there",
  "  /part [#room]      leave a room (the current one if none is named)",
  "  /rooms             list the rooms and how many are in each",
  "  /who [#room]       list who is in the current room, or in another",
  "  /msg NICK text     send a private message to NICK",
  "  /history [count]   show earlier messages of the current room",
  "  /nick NAME         change your nickname",
  "  /ping              measure the round trip to the server",
  "  /help              show this help",
  "  /quit              leave (Ctrl+D and Ctrl+C work too)",
  "  //text             send a line that starts with /",
  ...ACCOUNT_HELP_LINES,
].join("\n");

/** What stands for a password in a line shown or kept: the same whatever its length. */
export const PASSWORD_MASK = "********";

export interface ParseOptions {
  /**
   * Parse /join, /part, /rooms, /who #room, /msg, /history and the account commands
   * (/identify, /register, /password, /unregister). Without it they are unknown.
   */
  rooms: true;
}

/** Reads one input line; plain text is a chat line in `mode`. */
export function parseInputLine(line: string, mode: Action): BasicInputCommand;
export function parseInputLine(line: string, mode: Action, options: ParseOptions): InputCommand;
export function parseInputLine(
  line: string,
  mode: Action,
  options?: ParseOptions,
): InputCommand {
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
      if (options?.rooms && rest.trim() !== "") return roomCommand("who", rest.trim());
      return { kind: "who" };
    case "ping":
      return { kind: "ping" };
    case "help":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
      return { kind: "quit" };
  }
  if (options?.rooms) {
    switch (name.toLowerCase()) {
      case "join":
        return rest.trim() === ""
          ? { kind: "invalid", message: "Usage: /join #room" }
          : roomCommand("join", rest.trim());
      case "part":
      case "leave":
        return rest.trim() === "" ? { kind: "part" } : roomCommand("part", rest.trim());
      case "rooms":
        return { kind: "rooms" };
      case "msg": {
        const message = /^(\S+)\s(.*)$/s.exec(rest.trimStart());
        if (message === null || message[2].trim() === "") {
          return { kind: "invalid", message: "Usage: /msg NICK text" };
        }
        return { kind: "private", nickname: message[1], text: message[2] };
      }
      case "identify": {
        const words = passwordWords(rest);
        if (words.length === 1) return { kind: "identify", password: words[0] };
        if (words.length === 2) return { kind: "identify", nickname: words[0], password: words[1] };
        return { kind: "invalid", message: "Usage: /identify [NAME] PASSWORD" };
      }
      case "register":
      case "unregister": {
        const kind = name.toLowerCase() as "register" | "unregister";
        const words = passwordWords(rest);
        if (words.length !== 1) return { kind: "invalid", message: `Usage: /${kind} PASSWORD` };
        if (kind === "register") {
          return newPassword("Cannot register", words[0]) ?? { kind, password: words[0] };
        }
        return { kind, password: words[0] };
      }
      case "password": {
        const words = passwordWords(rest);
        if (words.length !== 2) return { kind: "invalid", message: "Usage: /password OLD NEW" };
        return newPassword("Cannot change the password", words[1]) ??
          { kind: "password", oldPassword: words[0], newPassword: words[1] };
      }
      case "history": {
        if (rest.trim() === "") return { kind: "history" };
        const count = /^\d+$/.test(rest.trim()) ? Number(rest.trim()) : 0;
        return count >= 1 && count <= MAX_HISTORY_COUNT ? { kind: "history", count } : {
          kind: "invalid",
          message: `Usage: /history [count] - count is 1 to ${MAX_HISTORY_COUNT}`,
        };
      }
    }
  }
  return { kind: "invalid", message: `Unknown command /${name} - type /help for the list` };
}

/** `/join dev` means #dev; a name that is no room name is refused here, not by the server. */
function roomCommand(kind: "join" | "part" | "who", argument: string): InputCommand {
  if (/\s/.test(argument)) {
    return { kind: "invalid", message: `Usage: /${kind} ${kind === "join" ? "#room" : "[#room]"}` };
  }
  const name = argument.startsWith("#") ? argument : `#${argument}`;
  const problem = roomNameProblem(name);
  if (problem !== undefined) return { kind: "invalid", message: problem };
  return { kind, room: roomKey(name) };
}

/** A new password the server would refuse, refused here: `Cannot register: the password is...`. */
function newPassword(what: string, password: string): InputCommand | undefined {
  const problem = passwordProblem(password);
  return problem === undefined
    ? undefined
    : { kind: "invalid", message: `${what}: ${joinedSentence(problem)}` };
}

/** A password command's arguments: passwords are single words, as in IRC. */
function passwordWords(rest: string): string[] {
  return rest.split(/\s+/).filter((word) => word !== "");
}

/**
 * The line as it may be shown or kept: an account command's passwords masked
 * (`/register ********`, `/identify alice ********`); any other line as it is.
 */
export function maskPasswords(line: string): string {
  const match = /^\/(identify|register|password|unregister)(\s.*)?$/is.exec(line);
  if (match === null) return line;
  const words = passwordWords(match[2] ?? "");
  if (words.length === 0) return line;
  // "/identify NAME PASSWORD": the name is no secret.
  const kept = match[1].toLowerCase() === "identify" && words.length === 2 ? 1 : 0;
  const shown = words.map((word, i) => i < kept ? word : PASSWORD_MASK);
  return `/${match[1]} ${shown.join(" ")}`;
}
