import {
  Action,
  type Chat,
  type ClientMessage,
  ErrorCode,
  type Hello,
  type HistoryRequest,
  type JoinRequest,
  type PartRequest,
  type WhoRequest,
} from "../../gen/chat/v1/chat_pb.ts";
import { decodeClientMessage, type ServerMessageInit } from "../protocol/codec.ts";
import { MalformedMessageError } from "../protocol/errors.ts";
import { errorMessage } from "../protocol/error_message.ts";
import {
  MAX_ROOM_NAME_CHARACTERS,
  MAX_ROOMS_PER_SESSION,
  roomKey,
  roomNameProblem,
} from "../protocol/room_name.ts";
import type {
  ChatMessage,
  ChatResult,
  JoinResult,
  OnlineUser,
  PrivateResult,
  RenameResult,
  RoomInfo,
} from "./hub.ts";
import type { HistoryPage, MissedEvents } from "./history/history_store.ts";
import { nicknameProblem } from "../protocol/nickname.ts";
import type { Accounts } from "./accounts/accounts.ts";
import {
  handleChangePassword,
  handleRegister,
  handleUnregister,
  IDENTIFY_FIRST,
  takeNickname,
} from "./account_handlers.ts";
import { utf8Length } from "../protocol/utf8_length.ts";
import { cutText } from "../util/cut_text.ts";
import { MAX_CLIENT_NAME_BYTES } from "../protocol/limits.ts";

/** The most messages one HistoryRequest gets, and what a count of 0 means. */
export const MAX_HISTORY_PAGE = 200;
export const DEFAULT_HISTORY_PAGE = 50;

/** What a handler may see and do. The server wires it to a session and the hub. */
export interface HandlerContext {
  readonly sessionId: bigint;
  readonly nickname: string;
  readonly maxContentBytes: number;
  /** Messages a join sends from history (--history-on-join). */
  readonly historyOnJoin: number;
  /** Messages kept per room (--history-size): the most a resume can send. */
  readonly historySize: number;
  /** Sends to this session only. */
  reply(message: ServerMessageInit): void;
  /**
   * Reads a page of history with `read` and sends its messages, at the pace the client
   * reads them, a few sessions at a time in the whole server; resolves with the page once
   * all of it is queued (or the session has closed). Rejects as `read` does.
   */
  replyHistory<Page extends HistoryPage>(read: () => Promise<Page>): Promise<Page>;
  /** Sends to every member of a room the session is in, itself included (see Hub.chat). */
  broadcast(room: string, message: ChatMessage): ChatResult;
  /** Sends to one user, and the session its copy. */
  privateMessage(toNickname: string, message: ChatMessage): PrivateResult;
  joinRoom(room: string): JoinResult;
  /** False when the session is not in the room. */
  partRoom(room: string): boolean;
  isInRoom(room: string): boolean;
  /** Users of the cluster in the room. */
  roomMembers(room: string): number;
  /** Rooms with members, and those kept for their history. */
  rooms(): Promise<{ rooms: RoomInfo[]; truncated: boolean }>;
  historyBefore(room: string, beforeId: bigint, count: number): Promise<HistoryPage>;
  historyAfter(room: string, afterId: bigint, limit: number): Promise<MissedEvents>;
  /** Takes a token from the session's chat rate limit; false when it is over the limit. */
  allowChat(): boolean;
  /** Takes a token for a join, part or history request; false when over the limit. */
  allowRoomRequest(): boolean;
  /** Takes a token from the session's rename limit; false when it is over the limit. */
  allowRename(): boolean;
  /** Claims a nickname; waits when it has to be claimed across a cluster. */
  rename(nickname: string): RenameResult | Promise<RenameResult>;
  setClientName(name: string): void;
  /** Everyone online in the cluster, or the users of one room. */
  who(room?: string): OnlineUser[];
  /** Milliseconds since the epoch. */
  now(): number;
  /** The peer's IP address, for the accounts' limits. */
  readonly address: string;
  readonly accounts: Accounts;
  /** Only registered users may use the server (--require-account). */
  readonly requireAccount: boolean;
  /** Whether a password may come on this connection (Welcome.passwords_accepted). */
  readonly passwordsAccepted: boolean;
  /**
   * False while a session of a server with --require-account has not identified: it is in
   * no room and nobody sees it; it may only identify (or ping).
   */
  readonly admitted: boolean;
  /** The key of the account whose nickname the session holds, identified; or undefined. */
  readonly identifiedAs: string | undefined;
  /** Records the account the session identified as (undefined: none any more). */
  identify(key: string | undefined): void;
  /**
   * Enters the chat under `nickname`, claimed first: for a session not yet admitted, on
   * the strength of the account under `key` (while it exists: see ChatServer).
   */
  admit(nickname: string, key: string): RenameResult | Promise<RenameResult>;
  /** Ends the session with a fatal error. */
  fail(code: ErrorCode, message: string): void;
  /** Logs what became of an account: "account alice: registered (127.0.0.1:4242)". */
  logAccount(what: string, nickname: string): void;
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
  if (!context.admitted && body.case !== "hello" && body.case !== "ping") {
    return context.fail(ErrorCode.AUTH_REQUIRED, IDENTIFY_FIRST);
  }
  switch (body.case) {
    case "chat":
      return handleChat(context, body.value);
    case "hello":
      return handleHello(context, body.value);
    case "ping":
      return context.reply({ body: { case: "pong", value: { nonce: body.value.nonce } } });
    case "who":
      return handleWho(context, body.value);
    case "join":
      return handleJoin(context, body.value);
    case "part":
      return handlePart(context, body.value);
    case "rooms":
      // Counted with joins and parts: listing rooms reads the history file.
      if (!context.allowRoomRequest()) return context.reply(roomRequestRefused());
      return context.rooms().then((value) => context.reply({ body: { case: "rooms", value } }));
    case "history":
      return handleHistory(context, body.value);
    case "register":
      return handleRegister(context, body.value);
    case "changePassword":
      return handleChangePassword(context, body.value);
    case "unregister":
      return handleUnregister(context, body.value);
    default:
      return context.reply(
        errorMessage(
          ErrorCode.UNSUPPORTED,
          "Message has no body, or one this server does not know",
        ),
      );
  }
}

function handleChat(context: HandlerContext, chat: Chat): void | Promise<void> {
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
  const message: ChatMessage = {
    content: chat.content,
    fromSessionId: context.sessionId,
    fromNickname: context.nickname,
    clientSeq: chat.clientSeq,
    sentAtUnixMs: context.now(),
  };
  switch (chat.action) {
    case Action.ECHO:
      return context.reply({
        body: {
          case: "chat",
          value: { ...message, action: Action.ECHO, sentAtUnixMs: BigInt(message.sentAtUnixMs) },
        },
      });
    case Action.BROADCAST: {
      const problem = roomNameProblem(chat.room);
      if (problem !== undefined) {
        return context.reply(errorMessage(ErrorCode.ROOM_INVALID, problem, chat.clientSeq));
      }
      const room = roomKey(chat.room);
      const result = context.broadcast(room, message);
      if (result instanceof Promise) return result;
      if (result === "not_in_room") {
        context.reply(errorMessage(
          ErrorCode.NOT_IN_ROOM,
          `You are not in ${room}; join it first`,
          chat.clientSeq,
        ));
      }
      return;
    }
    case Action.PRIVATE: {
      const result = context.privateMessage(chat.toNickname, message);
      if (result === "no_such_user") {
        context.reply(errorMessage(
          ErrorCode.NO_SUCH_USER,
          `Nobody called ${JSON.stringify(cutText(chat.toNickname, 40))} is online`,
          chat.clientSeq,
        ));
      } else if (result === "unavailable") {
        context.reply(errorMessage(
          ErrorCode.UNAVAILABLE,
          `${cutText(chat.toNickname, 40)} is on another server, which cannot be reached now; ` +
            "the message was not sent, try again later",
          chat.clientSeq,
        ));
      }
      return;
    }
    default:
      return context.reply(errorMessage(
        ErrorCode.UNSUPPORTED,
        `Unknown chat action ${chat.action}`,
        chat.clientSeq,
      ));
  }
}

/**
 * The room a join, part or history request names, or undefined once the client has been
 * told what is wrong. Unlike a chat's, an empty name is no room: such a request names
 * the lobby as "#lobby", so that one blank field cannot take a client out of it.
 */
function requestedRoom(context: HandlerContext, name: string): string | undefined {
  const problem = name === ""
    ? `A room is needed: "#" then 1-${MAX_ROOM_NAME_CHARACTERS} of a-z, 0-9, "-" and "_"`
    : roomNameProblem(name);
  if (problem !== undefined) {
    context.reply(errorMessage(ErrorCode.ROOM_INVALID, problem));
    return undefined;
  }
  if (!context.allowRoomRequest()) {
    context.reply(roomRequestRefused());
    return undefined;
  }
  return roomKey(name);
}

function roomRequestRefused(): ServerMessageInit {
  return errorMessage(
    ErrorCode.RATE_LIMITED,
    "You are joining, leaving, listing or paging rooms too fast; this request was dropped",
  );
}

function handleWho(context: HandlerContext, who: WhoRequest): void {
  if (who.room === "") {
    return context.reply({ body: { case: "who", value: { users: context.who() } } });
  }
  const problem = roomNameProblem(who.room);
  if (problem !== undefined) return context.reply(errorMessage(ErrorCode.ROOM_INVALID, problem));
  const room = roomKey(who.room);
  context.reply({ body: { case: "who", value: { users: context.who(room), room } } });
}

function handleJoin(context: HandlerContext, join: JoinRequest): void | Promise<void> {
  const room = requestedRoom(context, join.room);
  if (room === undefined) return;
  const result = context.joinRoom(room);
  if (result === "full") {
    return context.reply(errorMessage(
      ErrorCode.TOO_MANY_ROOMS,
      `You are in ${MAX_ROOMS_PER_SESSION} rooms, the most allowed; leave one before joining ${room}`,
    ));
  }
  if (result === "limit") {
    return context.reply(errorMessage(
      ErrorCode.ROOM_LIMIT,
      `The server has as many rooms as it allows; ${room} cannot be made now`,
    ));
  }
  const history: (() => Promise<HistoryPage & Partial<MissedEvents>>) | undefined = join.resume
    ? () =>
      context.historyAfter(room, join.lastEventId, context.historySize).then((page) =>
        // Past the room's newest id: its numbering began again, and all of it is new.
        page.lastId < join.lastEventId && page.lastId > 0n
          ? context.historyAfter(room, 0n, context.historySize)
          : page
      )
    : context.historyOnJoin > 0
    ? () => context.historyBefore(room, 0n, context.historyOnJoin)
    : undefined;
  const joined = (page: Partial<MissedEvents> | undefined, unavailable = false) =>
    context.reply({
      body: {
        case: "joined",
        value: {
          room,
          members: context.roomMembers(room),
          historyCount: page?.events?.length ?? 0,
          moreHistory: page?.more ?? false,
          missed: page?.missed ?? 0n,
          historyUnavailable: unavailable,
          lastEventId: page?.lastId ?? 0n,
        },
      },
    });
  if (history === undefined) return joined(undefined);
  return context.replyHistory(history).then(
    (page) => joined(page),
    () => joined(undefined, true),
  );
}

function handlePart(context: HandlerContext, part: PartRequest): void {
  const room = requestedRoom(context, part.room);
  if (room === undefined) return;
  if (!context.partRoom(room)) {
    return context.reply(errorMessage(ErrorCode.NOT_IN_ROOM, `You are not in ${room}`));
  }
  context.reply({ body: { case: "parted", value: { room } } });
}

function handleHistory(context: HandlerContext, request: HistoryRequest): void | Promise<void> {
  const room = requestedRoom(context, request.room);
  if (room === undefined) return;
  if (!context.isInRoom(room)) {
    return context.reply(errorMessage(
      ErrorCode.NOT_IN_ROOM,
      `You are not in ${room}; join it to read its history`,
    ));
  }
  const count = Math.min(
    request.count === 0 ? DEFAULT_HISTORY_PAGE : request.count,
    MAX_HISTORY_PAGE,
  );
  return context.replyHistory(() => context.historyBefore(room, request.beforeEventId, count)).then(
    (page) => {
      context.reply({
        body: {
          case: "historyEnd",
          value: { room, count: page.events.length, more: page.more },
        },
      });
    },
    () => context.reply({ body: { case: "historyEnd", value: { room, unavailable: true } } }),
  );
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
  if (hello.nickname === "") {
    if (!context.admitted) return context.fail(ErrorCode.AUTH_REQUIRED, IDENTIFY_FIRST);
    if (hello.password === "") return;
    return context.reply(errorMessage(
      ErrorCode.AUTH_FAILED,
      "A password goes with the nickname of its account, in the same Hello",
    ));
  }
  // One spelling for "é", composed or not, so that the length limit counts what people see.
  const nickname = hello.nickname.normalize("NFC");
  const problem = nicknameProblem(nickname, context.nickname);
  if (problem !== undefined) {
    if (!context.admitted) return context.fail(ErrorCode.AUTH_REQUIRED, IDENTIFY_FIRST);
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
  return takeNickname(context, nickname, hello.password);
}
