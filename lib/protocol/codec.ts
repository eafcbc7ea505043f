import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type ClientMessage,
  ClientMessageSchema,
  type ServerMessage,
  ServerMessageSchema,
} from "../../gen/chat/v1/chat_pb.ts";
import { MalformedMessageError } from "./errors.ts";

export type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;
export type ServerMessageInit = MessageInitShape<typeof ServerMessageSchema>;

// Unknown fields are dropped: nobody forwards them, and keeping them would let a
// client make the server hold on to bytes it never uses.
const readOptions = { readUnknownFields: false };

export function encodeClientMessage(message: ClientMessageInit): Uint8Array {
  return toBinary(ClientMessageSchema, create(ClientMessageSchema, message));
}

export function encodeServerMessage(message: ServerMessageInit): Uint8Array {
  return toBinary(ServerMessageSchema, create(ServerMessageSchema, message));
}

/** Throws MalformedMessageError when the payload is not a ClientMessage. */
export function decodeClientMessage(payload: Uint8Array): ClientMessage {
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
