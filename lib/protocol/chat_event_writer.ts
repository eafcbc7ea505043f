import type { ChatEvent } from "../../gen/chat/v1/chat_pb.ts";
import { allocateBytes } from "./allocate_bytes.ts";
import { varint } from "./varint.ts";

const utf8 = new TextEncoder();
/** Reused between calls: the event is built here, then copied out at its exact size. */
let scratch = new Uint8Array(1024);

/**
 * Encodes ServerMessage{chat: event} by hand, as protobuf-es would (fields in order,
 * zero values left out), about ten times faster: every chat message the server relays
 * is encoded once, and every echo reply too. The codec falls back to protobuf-es for
 * any event this does not take (a negative time).
 */
export function writeChatEventMessage(
  event: Pick<
    ChatEvent,
    "action" | "content" | "fromSessionId" | "fromNickname" | "clientSeq" | "sentAtUnixMs"
  >,
): Uint8Array | undefined {
  const { action, content, fromSessionId, fromNickname, clientSeq, sentAtUnixMs } = event;
  if (sentAtUnixMs < 0n || action < 0) return undefined;
  // Room for the outer tag and length, every tag and varint, and 3 bytes per UTF-16 unit.
  const worst = 6 + 5 * 11 + 2 * 5 + 3 * (content.length + fromNickname.length);
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
  const bodyLength = offset - 6;
  // The ServerMessage tag and length go right before the event, in the bytes kept for them.
  const start = 6 - 1 - varint.size(bodyLength);
  scratch[start] = 0x12; // ServerMessage.chat, length-delimited
  varint.write(scratch, start + 1, bodyLength);
  const out = allocateBytes(offset - start);
  // Byte by byte: for a few dozen bytes, cheaper than making a view to set() from.
  for (let i = start; i < offset; i++) out[i - start] = scratch[i];
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
