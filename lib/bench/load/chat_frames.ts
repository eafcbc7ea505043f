/**
 * Hand-encoded ClientMessage frames for the bench's Chat messages, written straight
 * into a SocketWriter: the content is the send time then fixed padding, so building a
 * frame is a few byte stores, not a protobuf-es message per send.
 */
import { Action } from "../../../gen/chat/v1/chat_pb.ts";
import { SEND_TIME_BYTES, wallClockMs, writeSendTime } from "./send_time.ts";
import type { SocketWriter } from "./socket_writer.ts";

const PADDING = 0x2e; // "."

export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(buffer: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    buffer[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[offset++] = value;
  return offset;
}

/** Frames of `Chat { content, action, client_seq }` with `contentBytes` of content. */
export class ChatFrameEncoder {
  /** The content's padding, copied in after the send time. */
  readonly #padding: Uint8Array;

  constructor(readonly contentBytes: number, readonly action: Action) {
    this.#padding = new Uint8Array(contentBytes - SEND_TIME_BYTES).fill(PADDING);
  }

  /** Appends one frame stamped with the current time to `writer`. */
  write(writer: SocketWriter, clientSeq: number): void {
    const content = this.contentBytes;
    // ECHO is proto3's default (0), so it is left out, as protobuf encoders do.
    const actionBytes = this.action === Action.ECHO ? 0 : 2;
    const chatBytes = 1 + varintSize(content) + content + actionBytes + 1 + varintSize(clientSeq);
    const payloadBytes = 1 + varintSize(chatBytes) + chatBytes;
    const frameBytes = varintSize(payloadBytes) + payloadBytes;
    let at = writer.reserve(frameBytes);
    const buffer = writer.buffer;
    at = writeVarint(buffer, at, payloadBytes);
    buffer[at++] = 2 << 3 | 2; // ClientMessage.chat
    at = writeVarint(buffer, at, chatBytes);
    buffer[at++] = 1 << 3 | 2; // Chat.content
    at = writeVarint(buffer, at, content);
    writeSendTime(buffer, at, wallClockMs());
    buffer.set(this.#padding, at + SEND_TIME_BYTES);
    at += content;
    if (actionBytes > 0) {
      buffer[at++] = 2 << 3; // Chat.action
      buffer[at++] = this.action;
    }
    buffer[at++] = 3 << 3; // Chat.client_seq
    writeVarint(buffer, at, clientSeq);
    writer.commit(frameBytes);
  }
}
