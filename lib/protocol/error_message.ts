import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import type { ServerMessageInit } from "./codec.ts";

/** After these the server closes the connection. */
const FATAL_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.SLOW_CONSUMER,
  ErrorCode.SERVER_FULL,
  ErrorCode.SHUTTING_DOWN,
  ErrorCode.IDLE_TIMEOUT,
  ErrorCode.AUTH_REQUIRED,
]);

/** An Error frame; `fatal` follows from the code, as the protocol defines it. */
export function errorMessage(
  code: ErrorCode,
  message: string,
  clientSeq = 0n,
): ServerMessageInit {
  return {
    body: { case: "error", value: { code, message, fatal: FATAL_CODES.has(code), clientSeq } },
  };
}
