import { AccountChange, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import type { ServerMessageInit } from "../../lib/protocol/codec.ts";

/** A Welcome from a scripted server, for session `sessionId` (its guest name follows). */
export function scriptedWelcome(
  sessionId: bigint,
  { passwordsAccepted = false, accountRequired = false } = {},
): ServerMessageInit {
  return {
    body: {
      case: "welcome",
      value: {
        sessionId,
        nickname: `guest-${sessionId}`,
        server: "scripted",
        maxFrameBytes: 65536,
        maxContentBytes: 4096,
        online: 1,
        passwordsAccepted,
        accountRequired,
      },
    },
  };
}

/** Session `sessionId`, a guest until now, is `nickname`. */
export function renamed(sessionId: bigint, nickname: string): ServerMessageInit {
  return {
    body: {
      case: "presence",
      value: {
        kind: PresenceKind.RENAMED,
        sessionId,
        nickname,
        previousNickname: `guest-${sessionId}`,
        online: 1,
      },
    },
  };
}

export function accountChanged(change: AccountChange, nickname: string): ServerMessageInit {
  return { body: { case: "account", value: { change, nickname } } };
}
