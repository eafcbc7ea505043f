import {
  Action,
  type ChatEvent,
  PresenceKind,
  type ServerMessage,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import { LOBBY } from "../protocol/room_name.ts";
import { accountChangedText, accountErrorHint, type Surface } from "./account_text.ts";
import { printable } from "./printable.ts";
import type { Style } from "./style.ts";

export interface FormatOptions {
  /** The time history lines are dated against: today's show the time alone. @default now */
  now?: Date;
  /** The client the lines are for: hints name its commands or its form. @default "terminal" */
  surface?: Surface;
  /** Where the password an error refuses came from, when it came from --password-file. */
  passwordFile?: string;
}

/**
 * `connected as guest-3 - 4 online`; on a server that admits registered users only, until
 * `admitted` (identified: the guest name is never used there),
 * `connected - 4 online, registered users only`.
 */
export function formatWelcome(welcome: Welcome, admitted = !welcome.accountRequired): string {
  return admitted
    ? `connected as ${printable(welcome.nickname)} - ${welcome.online} online`
    : `connected - ${welcome.online} online, registered users only`;
}

/**
 * One line for a server message, as the terminal shows it, or undefined for
 * messages the caller renders itself (Welcome, Pong).
 */
export function formatServerMessage(
  message: ServerMessage,
  ownSessionId: bigint | undefined,
  style: Style,
  options: FormatOptions = {},
): string | undefined {
  const body = message.body;
  switch (body.case) {
    case "chat":
      return formatChatEvent(body.value, ownSessionId, style, options);
    case "presence": {
      const { kind, online, sessionId } = body.value;
      const nickname = printable(body.value.nickname);
      const previousNickname = printable(body.value.previousNickname);
      const room = roomShown(body.value.room);
      if (kind === PresenceKind.JOINED) {
        return style.notice(
          room === undefined
            ? `* ${nickname} joined (${online} online)`
            : `* ${nickname} joined ${room}`,
        );
      }
      if (kind === PresenceKind.LEFT) {
        return style.notice(
          room === undefined
            ? `* ${nickname} left (${online} online)`
            : `* ${nickname} left ${room}`,
        );
      }
      if (kind === PresenceKind.RENAMED) {
        return style.notice(
          sessionId === ownSessionId
            ? `* you are now ${nickname}`
            : `* ${previousNickname} is now ${nickname}`,
        );
      }
      return undefined;
    }
    case "who": {
      const names = body.value.users.map((user) =>
        user.sessionId === ownSessionId
          ? `${printable(user.nickname)} (you)`
          : printable(user.nickname)
      );
      const room = roomShown(body.value.room);
      if (room !== undefined && names.length === 0) return style.notice(`* nobody is in ${room}`);
      const where = room === undefined ? "online" : `in ${room}`;
      return style.notice(`* ${names.length} ${where}: ${names.join(", ")}`);
    }
    case "joined": {
      const { members, moreHistory, historyUnavailable } = body.value;
      const room = printable(body.value.room);
      let line = `* joined ${room} (${members} ${members === 1 ? "member" : "members"})`;
      if (historyUnavailable) line += `; its history cannot be read now`;
      else if (moreHistory) line += `; /history shows earlier messages`;
      return style.notice(line);
    }
    case "parted":
      return style.notice(`* left ${printable(body.value.room)}`);
    case "rooms": {
      const { rooms, truncated } = body.value;
      if (rooms.length === 0) return style.notice("* no rooms");
      const list = rooms.map((room) => `${printable(room.name)} (${room.members})`).join(", ");
      const what = truncated
        ? `the ${rooms.length} largest rooms`
        : `${rooms.length} ${rooms.length === 1 ? "room" : "rooms"}`;
      return style.notice(`* ${what}: ${list}`);
    }
    case "historyEnd": {
      const { count, more, unavailable } = body.value;
      const room = printable(body.value.room);
      if (unavailable) return style.error(`! the history of ${room} cannot be read now`);
      if (count === 0) return style.notice(`* no earlier messages in ${room}`);
      const messages = count === 1 ? "1 earlier message" : `${count} earlier messages`;
      return style.notice(
        `* ${messages} of ${room} above; ${more ? "/history shows more" : "nothing older is kept"}`,
      );
    }
    case "account":
      return style.notice(
        `* ${
          accountChangedText(body.value.change, body.value.nickname, options.surface ?? "terminal")
        }`,
      );
    case "error": {
      const message = printable(body.value.message);
      const hint = accountErrorHint(
        body.value.code,
        message,
        options.surface ?? "terminal",
        options.passwordFile,
      );
      return style.error(hint === undefined ? `! ${message}` : `! ${message} - ${hint}`);
    }
    default:
      return undefined;
  }
}

/**
 * One chat message, as the terminal shows it:
 * `(broadcast) alice: hi` in the lobby, `(broadcast) [#dev] alice: hi` in another room,
 * `(echo) hi`, `(private) alice: hi`, `(private to bob) hi` for the sender's own copy, and
 * `[14:03] (broadcast) alice: hi`, dimmed, for a message from history.
 */
export function formatChatEvent(
  event: ChatEvent,
  ownSessionId: bigint | undefined,
  style: Style,
  options: FormatOptions = {},
): string {
  const content = printable(event.content);
  const from = printable(event.fromNickname);
  let text: string;
  let colour: (text: string) => string;
  if (event.action === Action.ECHO) {
    text = `(echo) ${content}`;
    colour = style.echo;
  } else if (event.action === Action.PRIVATE) {
    text = event.toNickname !== "" && event.fromSessionId === ownSessionId
      ? `(private to ${printable(event.toNickname)}) ${content}`
      : `(private) ${from}: ${content}`;
    colour = style.private;
  } else {
    const room = roomShown(event.room);
    text = `(broadcast) ${room === undefined ? "" : `[${room}] `}${from}: ${content}`;
    colour = style.broadcast;
  }
  if (!event.history) return colour(text);
  const time = formatTime(event.sentAtUnixMs, options.now ?? new Date());
  // Its kind's colour, dimmed.
  return style.history(colour(time === undefined ? text : `[${time}] ${text}`));
}

/** `! 12 messages in #dev were missed while you were away and are no longer kept` */
export function formatGap(room: string, missed: bigint, style: Style): string {
  const messages = missed === 1n ? "1 message in" : `${missed} messages in`;
  const were = missed === 1n ? "was" : "were";
  return style.error(
    `! ${messages} ${printable(room)} ${were} missed while you were away and ${
      missed === 1n ? "is" : "are"
    } no longer kept`,
  );
}

/**
 * When a message was sent, in local time: `14:03` today, `2026-12-04 14:03` another day;
 * undefined when the server did not say.
 */
export function formatTime(sentAtUnixMs: bigint, now: Date): string | undefined {
  if (sentAtUnixMs <= 0n) return undefined;
  const at = new Date(Number(sentAtUnixMs));
  const time = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
  const sameDay = at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth() &&
    at.getDate() === now.getDate();
  if (sameDay) return time;
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${time}`;
}

/** A room as a line names it: undefined for the lobby, which lines leave unnamed. */
function roomShown(room: string): string | undefined {
  return room === "" || room.toLowerCase() === LOBBY ? undefined : printable(room.toLowerCase());
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}
