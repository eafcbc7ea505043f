import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";

/** The server's limits in every target: small, so that cases reach them. */
export const MAX_FRAME = 4096;
export const MAX_CONTENT = 1024;

/** The per-session chat and rename limits are switched off, so RATE_LIMITED must never come. */
export const SERVER_ARGS = [
  "--rename-limit",
  "0",
  "--max-frame-bytes",
  String(MAX_FRAME),
  "--max-content-bytes",
  String(MAX_CONTENT),
  "--rate-limit",
  "0",
];

/** The longest wait for any one answer. */
export const WAIT_MS = 10_000;

export const WELL_BEHAVED_NICKNAMES = ["wb-a", "wb-b", "wb-c"] as const;

export const FATAL_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.SLOW_CONSUMER,
  ErrorCode.SERVER_FULL,
  ErrorCode.SHUTTING_DOWN,
  ErrorCode.IDLE_TIMEOUT,
]);

/** Errors a fuzz connection may get for a frame, all non-fatal (RATE_LIMITED is off). */
export const ALLOWED_FRAME_ERRORS: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.MALFORMED,
  ErrorCode.UNSUPPORTED,
  ErrorCode.CONTENT_TOO_LONG,
  ErrorCode.NICKNAME_INVALID,
  ErrorCode.NICKNAME_TAKEN,
  // A mutated frame may name a room, or a recipient, that is not there.
  ErrorCode.ROOM_INVALID,
  ErrorCode.NOT_IN_ROOM,
  ErrorCode.NO_SUCH_USER,
  // A mutated frame may become an account request: from a guest, or with a password on this
  // plain connection, it is refused before any password is looked at.
  ErrorCode.NOT_IDENTIFIED,
  ErrorCode.PASSWORD_NOT_ENCRYPTED,
]);

/** How a run goes, from the environment: FUZZ_SECONDS, FUZZ_SEED, FUZZ_CASE. */
export interface RunSettings {
  /** How long cases are started (default 5). */
  seconds: number;
  /** Every case's content comes from a PRNG seeded with this and the case's index. */
  seed: number;
  /** Only this case, when set. */
  onlyCase: number | undefined;
}

export function runSettings(): RunSettings {
  const seconds = envNumber("FUZZ_SECONDS") ?? 5;
  const seed = (envNumber("FUZZ_SEED") ?? crypto.getRandomValues(new Uint32Array(1))[0]) >>> 0;
  return { seconds, seed, onlyCase: envNumber("FUZZ_CASE") };
}

function envNumber(name: string): number | undefined {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") return undefined;
  const number = Number(value);
  if (!Number.isFinite(number)) throw new Error(`${name} is not a number: ${value}`);
  return number;
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
