import { Action } from "../../gen/chat/v1/chat_pb.ts";

/** A Chat message as a test sends it. */
export function chat(content: string, action: Action, clientSeq: bigint) {
  return { body: { case: "chat" as const, value: { content, action, clientSeq } } };
}

/** `count` broadcasts numbered from 1: enough of them fill a client's socket buffers. */
export function flood(count: number, content = "x".repeat(4000)) {
  return Array.from({ length: count }, (_, i) => chat(content, Action.BROADCAST, BigInt(i + 1)));
}
