import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type ClientMessage,
  ClientMessageSchema,
  type ServerMessage,
  ServerMessageSchema,
} from "../../gen/chat/v1/chat_pb.ts";
import { MalformedMessageError } from "./errors.ts";
import { readChatRequest } from "./chat_request_reader.ts";
import { writeChatEventMessage } from "./chat_event_writer.ts";

export type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;
export type ServerMessageInit = MessageInitShape<typeof ServerMessageSchema>;

// Unknown fields are dropped: nobody forwards them, and keeping them would let a
// client make the server hold on to bytes it never uses.
const readOptions = { readUnknownFields: false };

export function encodeClientMessage(message: ClientMessageInit): Uint8Array {
  return toBinary(ClientMessageSchema, create(ClientMessageSchema, message));
}

export function encodeServerMessage(message: ServerMessageInit): Uint8Array {
  // Chat events, the bulk of what a server sends, take the hand-written path.
  if (message.body?.case === "chat") {
    const { value } = message.body;
    const bytes = writeChatEventMessage({
      action: value.action ?? 0,
      content: value.content ?? "",
      fromSessionId: BigInt(value.fromSessionId ?? 0n),
      fromNickname: value.fromNickname ?? "",
      clientSeq: BigInt(value.clientSeq ?? 0n),
      sentAtUnixMs: BigInt(value.sentAtUnixMs ?? 0n),
      room: value.room ?? "",
      eventId: BigInt(value.eventId ?? 0n),
      history: value.history ?? false,
      toNickname: value.toNickname ?? "",
    });
    if (bytes !== undefined) return bytes;
  }
  return toBinary(ServerMessageSchema, create(ServerMessageSchema, message));
}

/** Throws MalformedMessageError when the payload is not a ClientMessage. */
export function decodeClientMessage(payload: Uint8Array): ClientMessage {
  // Chat requests, the bulk of what a server receives, take the hand-written path.
  const chat = readChatRequest(payload);
  if (chat !== undefined) {
    return { $typeName: "chat.v1.ClientMessage", body: { case: "chat", value: chat } };
  }
  return decode(() => fromBinary(ClientMessageSchema, payload, readOptions), "ClientMessage");
}

/** Throws MalformedMessageError when the payload is not a ServerMessage. */
export function decodeServerMessage(payload: Uint8Array): ServerMessage {
  return decode(() => fromBinary(ServerMessageSchema, payload, readOptions), "ServerMessage");
}

function decode<T>(read: () => T, name: string): T {
  try {
    return read();
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new MalformedMessageError(`Cannot decode ${name}: ${reason}`, { cause });
  }
}
