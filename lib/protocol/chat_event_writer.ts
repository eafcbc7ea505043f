import type { ChatEvent } from "../../gen/chat/v1/chat_pb.ts";
import { allocateBytes } from "./allocate_bytes.ts";
import { varint } from "./varint.ts";

const utf8 = new TextEncoder();
/** Reused between calls: the event is built here, then copied out at its exact size. */
let scratch = new Uint8Array(1024);
/** An event_id field: its tag, then up to 10 bytes of varint. */
const idVarint = new Uint8Array(11);

type ChatEventFields =
  & Pick<
    ChatEvent,
    "action" | "content" | "fromSessionId" | "fromNickname" | "clientSeq" | "sentAtUnixMs"
  >
  & Partial<Pick<ChatEvent, "room" | "eventId" | "history" | "toNickname">>;

/**
 * Encodes ServerMessage{chat: event} by hand, as protobuf-es would (fields in order,
 * zero values left out), about ten times faster: every chat message the server relays
 * is encoded once, and every echo reply too. The codec falls back to protobuf-es for
 * any event this does not take (a negative time).
 */
export function writeChatEventMessage(event: ChatEventFields): Uint8Array | undefined {
  const end = writeFields(event);
  if (end === undefined) return undefined;
  const bodyLength = end - 6;
  // The ServerMessage tag and length go right before the event, in the bytes kept for them.
  const start = 6 - 1 - varint.size(bodyLength);
  scratch[start] = 0x12; // ServerMessage.chat, length-delimited
  varint.write(scratch, start + 1, bodyLength);
  return copyOut(start, end);
}

/**
 * Encodes the ChatEvent alone, as history keeps it: chatEventFrame makes a ServerMessage
 * of it, with its event id and history flag. Undefined where writeChatEventMessage is.
 */
export function writeChatEvent(event: ChatEventFields): Uint8Array | undefined {
  const end = writeFields(event);
  return end === undefined ? undefined : copyOut(6, end);
}

/**
 * ServerMessage{chat: the ChatEvent `chatEvent` with event_id and history set}. The
 * fields go after the event's own: protobuf keeps the last value of a field it reads.
 */
export function chatEventFrame(
  chatEvent: Uint8Array,
  eventId: bigint,
  history: boolean,
): Uint8Array {
  // The id's varint first, into a few bytes of its own: its size is known once written.
  const idEnd = eventId === 0n ? 0 : varint.write(idVarint, 1, eventId);
  if (idEnd > 0) idVarint[0] = 0x40; // ChatEvent.event_id
  const bodyLength = chatEvent.length + idEnd + (history ? 2 : 0);
  const out = allocateBytes(1 + varint.size(bodyLength) + bodyLength);
  out[0] = 0x12; // ServerMessage.chat, length-delimited
  let offset = varint.write(out, 1, bodyLength);
  out.set(chatEvent, offset);
  offset += chatEvent.length;
  for (let i = 0; i < idEnd; i++) out[offset++] = idVarint[i];
  if (history) {
    out[offset++] = 0x48; // ChatEvent.history
    out[offset] = 1;
  }
  return out;
}

/** Writes the event's fields into scratch from offset 6 on; returns where they end. */
function writeFields(event: ChatEventFields): number | undefined {
  const { action, content, fromSessionId, fromNickname, clientSeq, sentAtUnixMs } = event;
  const room = event.room ?? "";
  const toNickname = event.toNickname ?? "";
  const eventId = event.eventId ?? 0n;
  if (sentAtUnixMs < 0n || action < 0) return undefined;
  // Room for the outer tag and length, every tag and varint, and 3 bytes per UTF-16 unit.
  const worst = 6 + 9 * 11 + 4 * 5 +
    3 * (content.length + fromNickname.length + room.length + toNickname.length);
  if (scratch.length < worst) scratch = new Uint8Array(worst * 2);
  // The ChatEvent goes after 6 bytes kept for the ServerMessage tag and its length.
  let offset = 6;
  if (action !== 0) {
    scratch[offset++] = 0x08;
    offset = varint.write(scratch, offset, action);
  }
  offset = writeString(0x12, content, offset);
  if (fromSessionId !== 0n) {
    scratch[offset++] = 0x18;
    offset = varint.write(scratch, offset, fromSessionId);
  }
  offset = writeString(0x22, fromNickname, offset);
  if (clientSeq !== 0n) {
    scratch[offset++] = 0x28;
    offset = varint.write(scratch, offset, clientSeq);
  }
  if (sentAtUnixMs !== 0n) {
    scratch[offset++] = 0x30;
    offset = varint.write(scratch, offset, sentAtUnixMs);
  }
  offset = writeString(0x3a, room, offset);
  if (eventId !== 0n) {
    scratch[offset++] = 0x40;
    offset = varint.write(scratch, offset, eventId);
  }
  if (event.history) {
    scratch[offset++] = 0x48;
    scratch[offset++] = 1;
  }
  return writeString(0x52, toNickname, offset);
}

function copyOut(start: number, end: number): Uint8Array {
  const out = allocateBytes(end - start);
  // Byte by byte: for a few dozen bytes, cheaper than making a view to set() from.
  for (let i = start; i < end; i++) out[i - start] = scratch[i];
  return out;
}

function writeString(tag: number, value: string, offset: number): number {
  if (value === "") return offset;
  scratch[offset++] = tag;
  // The length is written after the bytes are known; a string under 128 bytes needs one.
  const start = offset + 1;
  const written = writeUtf8(value, start);
  if (written < 0x80) {
    scratch[offset] = written;
    return start + written;
  }
  const lengthBytes = varint.size(written);
  scratch.copyWithin(offset + lengthBytes, start, start + written);
  varint.write(scratch, offset, written);
  return offset + lengthBytes + written;
}

/** Short ASCII, most chat, is copied char by char; the rest by TextEncoder. */
function writeUtf8(value: string, start: number): number {
  if (value.length <= 64) {
    let i = 0;
    for (; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) break;
      scratch[start + i] = code;
    }
    if (i === value.length) return i;
  }
  return utf8.encodeInto(value, scratch.subarray(start)).written;
}
