import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";

/** The kinds of request the server answers with something other than a ChatEvent or a Pong. */
export type RequestKind =
  | "nick"
  | "who"
  | "join"
  | "part"
  | "rooms"
  | "history"
  /** A Hello with a password: answered by the rename or AccountChanged IDENTIFIED. */
  | "identify"
  /** A register, change password or unregister request: answered by AccountChanged. */
  | "account";

/** A request waiting for its answer, to tell what an answer (or an error) is about. */
export interface AnsweredRequest {
  kind: RequestKind;
  /** The room the request named, as rooms are known (lower case); "" for none. */
  room: string;
  /**
   * Sent by the client itself, not asked for: the nickname after a reconnect, the joins
   * that follow every Welcome.
   */
  automatic: boolean;
}

/**
 * Which error codes, in errors without a client_seq, can answer which requests: the
 * oldest request waiting that an error can answer is the one it answers.
 */
export const ERRORS_ANSWERING: Readonly<Record<RequestKind, readonly ErrorCode[]>> = {
  nick: [
    ErrorCode.NICKNAME_TAKEN,
    ErrorCode.NICKNAME_INVALID,
    ErrorCode.NICKNAME_REGISTERED,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
    ErrorCode.MALFORMED,
  ],
  join: [
    ErrorCode.ROOM_INVALID,
    ErrorCode.TOO_MANY_ROOMS,
    ErrorCode.ROOM_LIMIT,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
    ErrorCode.UNSUPPORTED,
  ],
  part: [
    ErrorCode.ROOM_INVALID,
    ErrorCode.NOT_IN_ROOM,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNSUPPORTED,
  ],
  rooms: [ErrorCode.UNAVAILABLE, ErrorCode.UNSUPPORTED],
  who: [ErrorCode.ROOM_INVALID, ErrorCode.NOT_IN_ROOM, ErrorCode.UNAVAILABLE],
  history: [
    ErrorCode.ROOM_INVALID,
    ErrorCode.NOT_IN_ROOM,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
    ErrorCode.UNSUPPORTED,
  ],
  identify: [
    ErrorCode.AUTH_FAILED,
    ErrorCode.PASSWORD_NOT_ENCRYPTED,
    ErrorCode.NICKNAME_TAKEN,
    ErrorCode.NICKNAME_INVALID,
    ErrorCode.NICKNAME_REGISTERED,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
    ErrorCode.MALFORMED,
  ],
  account: [
    ErrorCode.AUTH_FAILED,
    ErrorCode.PASSWORD_NOT_ENCRYPTED,
    ErrorCode.NICKNAME_REGISTERED,
    ErrorCode.NOT_IDENTIFIED,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
    ErrorCode.MALFORMED,
    ErrorCode.UNSUPPORTED,
  ],
};

/**
 * Answers to the nickname asked for after a Welcome that mean it is not to be asked again
 * (by the client and by the page).
 */
export const NICKNAME_REFUSED: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.NICKNAME_TAKEN,
  ErrorCode.NICKNAME_INVALID,
  ErrorCode.NICKNAME_REGISTERED,
  ErrorCode.AUTH_FAILED,
  ErrorCode.PASSWORD_NOT_ENCRYPTED,
]);
