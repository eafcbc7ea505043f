import {
  Action,
  type Chat,
  type ClientMessage,
  ErrorCode,
  type Hello,
} from "../../gen/chat/v1/chat_pb.ts";
import { decodeClientMessage, type ServerMessageInit } from "../protocol/codec.ts";
import { MalformedMessageError } from "../protocol/errors.ts";
import { errorMessage } from "../protocol/error_message.ts";
import type { OnlineUser, RenameResult } from "./hub.ts";
import { nicknameProblem } from "../protocol/nickname.ts";
import { utf8Length } from "../protocol/utf8_length.ts";
import { MAX_CLIENT_NAME_BYTES } from "../protocol/limits.ts";

/** What a handler may see and do. The server wires it to a session and the hub. */
export interface HandlerContext {
  readonly sessionId: bigint;
  readonly nickname: string;
  readonly maxContentBytes: number;
  /** Sends to this session only. */
  reply(message: ServerMessageInit): void;
  /** Sends to every session, this one included. */
  broadcast(message: ServerMessageInit): void;
  /** Takes a token from the session's chat rate limit; false when it is over the limit. */
  allowChat(): boolean;
  /** Takes a token from the session's rename limit; false when it is over the limit. */
  allowRename(): boolean;
  /** Claims a nickname; waits when it has to be claimed across a cluster. */
  rename(nickname: string): RenameResult | Promise<RenameResult>;
  setClientName(name: string): void;
  who(): OnlineUser[];
  /** Milliseconds since the epoch. */
  now(): number;
}

/**
 * Decodes one frame payload and acts on it. Bad input gets an Error reply, never a throw.
 * Returns a promise when the effect waits for the cluster (a nickname claim).
 */
export function handleFrame(context: HandlerContext, payload: Uint8Array): void | Promise<void> {
  let message: ClientMessage;
  try {
    message = decodeClientMessage(payload);
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) throw error;
    context.reply(errorMessage(ErrorCode.MALFORMED, error.message));
    return;
  }
  return handleClientMessage(context, message);
}

export function handleClientMessage(
  context: HandlerContext,
  message: ClientMessage,
): void | Promise<void> {
  const body = message.body;
  switch (body.case) {
    case "chat":
      return handleChat(context, body.value);
    case "hello":
      return handleHello(context, body.value);
    case "ping":
      return context.reply({ body: { case: "pong", value: { nonce: body.value.nonce } } });
    case "who":
      return context.reply({ body: { case: "who", value: { users: context.who() } } });
    default:
      return context.reply(
        errorMessage(
          ErrorCode.UNSUPPORTED,
          "Message has no body, or one this server does not know",
        ),
      );
  }
}

function handleChat(context: HandlerContext, chat: Chat): void {
  if (!context.allowChat()) {
    context.reply(errorMessage(
      ErrorCode.RATE_LIMITED,
      "You are sending messages too fast; this one was not delivered",
      chat.clientSeq,
    ));
    return;
  }
  // A UTF-16 unit takes at most 3 bytes in UTF-8: most messages need no counting.
  const contentBytes = chat.content.length * 3 <= context.maxContentBytes
    ? 0
    : utf8Length(chat.content);
  if (contentBytes > context.maxContentBytes) {
    context.reply(errorMessage(
      ErrorCode.CONTENT_TOO_LONG,
      `Message is ${contentBytes} bytes long; the limit is ${context.maxContentBytes}`,
      chat.clientSeq,
    ));
    return;
  }
  if (chat.action !== Action.ECHO && chat.action !== Action.BROADCAST) {
    context.reply(errorMessage(
      ErrorCode.UNSUPPORTED,
      `Unknown chat action ${chat.action}`,
      chat.clientSeq,
    ));
    return;
  }
  const event: ServerMessageInit = {
    body: {
      case: "chat",
      value: {
        action: chat.action,
        content: chat.content,
        fromSessionId: context.sessionId,
        fromNickname: context.nickname,
        clientSeq: chat.clientSeq,
        sentAtUnixMs: BigInt(context.now()),
      },
    },
  };
  if (chat.action === Action.BROADCAST) context.broadcast(event);
  else context.reply(event);
}

function handleHello(context: HandlerContext, hello: Hello): void | Promise<void> {
  // The whole Hello is refused, nickname included: half of a request is not what was asked.
  // A UTF-16 unit takes at most 3 bytes in UTF-8: most names need no counting.
  const clientBytes = hello.client.length * 3 <= MAX_CLIENT_NAME_BYTES
    ? 0
    : utf8Length(hello.client);
  if (clientBytes > MAX_CLIENT_NAME_BYTES) {
    context.reply(errorMessage(
      ErrorCode.MALFORMED,
      `Hello.client is ${clientBytes} bytes long; the limit is ${MAX_CLIENT_NAME_BYTES}`,
    ));
    return;
  }
  if (hello.client !== "") context.setClientName(hello.client);
  // An empty nickname only introduces the client and keeps the current name.
  if (hello.nickname === "") return;
  // One spelling for "é", composed or not, so that the length limit counts what people see.
  const nickname = hello.nickname.normalize("NFC");
  const problem = nicknameProblem(nickname, context.nickname);
  if (problem !== undefined) {
    context.reply(errorMessage(ErrorCode.NICKNAME_INVALID, problem));
    return;
  }
  if (!context.allowRename()) {
    context.reply(errorMessage(
      ErrorCode.RATE_LIMITED,
      "You are changing your nickname too often; try again in a minute",
    ));
    return;
  }
  const result = context.rename(nickname);
  if (result instanceof Promise) {
    return result.then((answer) => answerRename(context, nickname, answer));
  }
  answerRename(context, nickname, result);
}

/** The member's confirmation (RENAMED) comes from the hub; only refusals are answered here. */
function answerRename(context: HandlerContext, nickname: string, result: RenameResult): void {
  if (result === "taken") {
    context.reply(
      errorMessage(ErrorCode.NICKNAME_TAKEN, `Nickname "${nickname}" is already taken`),
    );
  } else if (result === "unavailable") {
    context.reply(errorMessage(
      ErrorCode.UNAVAILABLE,
      "Nicknames cannot be changed while this server is cut off from its cluster; try again later",
    ));
  }
}
