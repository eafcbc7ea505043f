import {
  Action,
  PresenceKind,
  type ServerMessage,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import { printable } from "./printable.ts";
import type { Style } from "./style.ts";

/** `connected as guest-3 - 4 online` */
export function formatWelcome(welcome: Welcome): string {
  return `connected as ${printable(welcome.nickname)} - ${welcome.online} online`;
}

/**
 * One line for a server message, as the terminal shows it, or undefined for
 * messages the caller renders itself (Welcome, Pong).
 */
export function formatServerMessage(
  message: ServerMessage,
  ownSessionId: bigint | undefined,
  style: Style,
): string | undefined {
  const body = message.body;
  switch (body.case) {
    case "chat": {
      const event = body.value;
      const content = printable(event.content);
      return event.action === Action.ECHO
        ? style.echo(`(echo) ${content}`)
        : style.broadcast(`(broadcast) ${printable(event.fromNickname)}: ${content}`);
    }
    case "presence": {
      const { kind, online, sessionId } = body.value;
      const nickname = printable(body.value.nickname);
      const previousNickname = printable(body.value.previousNickname);
      if (kind === PresenceKind.JOINED) {
        return style.notice(`* ${nickname} joined (${online} online)`);
      }
      if (kind === PresenceKind.LEFT) return style.notice(`* ${nickname} left (${online} online)`);
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
      return style.notice(`* ${names.length} online: ${names.join(", ")}`);
    }
    case "error":
      return style.error(`! ${printable(body.value.message)}`);
    default:
      return undefined;
  }
}
