import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";

/** Long strings cut short for messages. */
export function shorten<T>(value: T, max = 60): T | string {
  if (typeof value !== "string" || value.length <= max) return value;
  return `${value.slice(0, max)}... (${value.length} UTF-16 units)`;
}

export const json = (value: unknown): string =>
  JSON.stringify(value, (_key, v) => typeof v === "bigint" ? `${v}` : v) ?? String(value);

/** deepEqual whose message shows what differs, briefly, even for long lists. */
export function same(actual: unknown, expected: unknown, message: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch {
    const show = (value: unknown) => shorten(json(value), 200);
    let detail: string;
    if (Array.isArray(actual) && Array.isArray(expected)) {
      let at = 0;
      while (
        at < Math.min(actual.length, expected.length) && json(actual[at]) === json(expected[at])
      ) at++;
      detail = `${actual.length} items, expected ${expected.length}; first difference at #${at}: ` +
        `got ${show(actual[at])}, expected ${show(expected[at])}`;
    } else detail = `got ${show(actual)}, expected ${show(expected)}`;
    throw new assert.AssertionError({ message: `${message}: ${detail}`, actual, expected });
  }
}

export function hex(bytes: ArrayLike<number>, max = 160): string {
  const shown = Array.from(bytes).slice(0, max).map((b) => b.toString(16).padStart(2, "0"));
  return shown.join(" ") + (bytes.length > max ? ` ... (${bytes.length} bytes)` : "");
}

export function describeMessage(message: ServerMessage): string {
  const body = message.body;
  switch (body.case) {
    case "error":
      return `error ${ErrorCode[body.value.code]}${
        body.value.fatal ? " fatal" : ""
      } seq=${body.value.clientSeq}`;
    case "chat":
      return `chat ${
        Action[body.value.action] ?? body.value.action
      } from ${body.value.fromSessionId} seq=${body.value.clientSeq}`;
    case "presence":
      return `presence ${PresenceKind[body.value.kind]} ${body.value.sessionId} ${
        JSON.stringify(body.value.nickname)
      }`;
    case "pong":
      return `pong ${body.value.nonce}`;
    default:
      return body.case ?? "empty";
  }
}
