import {
  Action,
  PresenceKind,
  type ServerMessage,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import type { Style } from "./style.ts";

/** `connected as guest-3 - 4 online` */
export function formatWelcome(welcome: Welcome): string {
  return `connected as ${welcome.nickname} - ${welcome.online} online`;
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
      return event.action === Action.ECHO
        ? style.echo(`(echo) ${event.content}`)
        : style.broadcast(`(broadcast) ${event.fromNickname}: ${event.content}`);
    }
    case "presence": {
      const { kind, nickname, previousNickname, online, sessionId } = body.value;
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
        user.sessionId === ownSessionId ? `${user.nickname} (you)` : user.nickname
      );
      return style.notice(`* ${names.length} online: ${names.join(", ")}`);
    }
    case "error":
      return style.error(`! ${body.value.message}`);
    default:
      return undefined;
  }
}
