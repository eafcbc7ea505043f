import {
  AccountChange,
  type ChangePasswordRequest,
  ErrorCode,
  type RegisterRequest,
  type UnregisterRequest,
} from "../../gen/chat/v1/chat_pb.ts";
import { errorMessage } from "../protocol/error_message.ts";
import { guestNickname, nicknameKey } from "../protocol/nickname.ts";
import { passwordProblem } from "../protocol/password.ts";
import { AccountsUnavailableError } from "./accounts/account_store.ts";
import type { AccountRequester, LoginResult, RegisterResult } from "./accounts/accounts.ts";
import { HashTurnRefusedError } from "./accounts/hash_turns.ts";
import { REGISTRATIONS_PER_WINDOW } from "./accounts/registration_limit.ts";
import { PasswordHashBusyError, PasswordHashFormatError } from "./accounts/password_hash.ts";
import type { HandlerContext } from "./handlers.ts";
import type { RenameResult } from "./hub.ts";

/** What a session may do before it has identified, on a server with --require-account. */
export const IDENTIFY_FIRST = "Only registered users may use this server: " +
  "send your nickname and password first (ask the operator for an account)";

/**
 * A Hello's nickname (valid, NFC, within the rename limit), with or without a password:
 * a registered nickname (or a look-alike) is taken only with its password, and a session
 * not yet admitted (--require-account) only by identifying.
 */
export function takeNickname(
  context: HandlerContext,
  nickname: string,
  password: string,
): void | Promise<void> {
  if (!context.admitted) {
    if (password === "") return context.fail(ErrorCode.AUTH_REQUIRED, IDENTIFY_FIRST);
    if (!context.passwordsAccepted) {
      return context.fail(
        ErrorCode.AUTH_REQUIRED,
        "Only registered users may use this server, and it takes no password over a " +
          "connection that is not encrypted: connect with TLS",
      );
    }
    return identify(context, nickname, password);
  }
  if (password !== "") {
    if (!context.passwordsAccepted) return context.reply(notEncrypted());
    return identify(context, nickname, password);
  }
  // The session's own account, in another spelling: no password needed again.
  if (context.identifiedAs === nicknameKey(nickname)) return rename(context, nickname);
  return context.accounts.find(nickname).then((account) => {
    if (account === undefined) return rename(context, nickname);
    const like = account.nickname === nickname ? "" : ` (it looks like "${account.nickname}")`;
    context.reply(errorMessage(
      ErrorCode.NICKNAME_REGISTERED,
      `Nickname "${nickname}" is registered${like}: give its password to take it`,
    ));
  }).catch((error) => unavailable(context, error));
}

function identify(context: HandlerContext, nickname: string, password: string): Promise<void> {
  return context.accounts.login(nickname, password, requester(context)).then(
    async (result): Promise<void> => {
      if (result.kind === "unknown" && !context.admitted) {
        return context.fail(
          ErrorCode.AUTH_REQUIRED,
          `No account is registered as "${nickname}". Only registered users may use this ` +
            "server; ask the operator for an account",
        );
      }
      if (result.kind !== "identified") return context.reply(loginRefused(nickname, result));
      const registered = result.account.nickname;
      const renamed =
        await (context.admitted
          ? context.rename(registered)
          : context.admit(registered, result.key));
      if (renamed !== "renamed") return answerRename(context, registered, renamed);
      context.identify(result.key);
      context.logAccount("identified", registered);
      context.reply(accountChanged(AccountChange.IDENTIFIED, registered));
    },
  ).catch((error) => unavailable(context, error));
}

export function handleRegister(
  context: HandlerContext,
  request: RegisterRequest,
): void | Promise<void> {
  if (!allowAccountRequest(context)) return;
  // Else any user let in could rename to a free name and register it.
  if (context.requireAccount) {
    return context.reply(errorMessage(
      ErrorCode.UNSUPPORTED,
      "This server admits registered users only, and its operator makes the accounts " +
        "(server accounts add NAME); ask them for one",
    ));
  }
  const nickname = context.nickname;
  if (nickname === guestNickname(context.sessionId)) {
    return context.reply(errorMessage(
      ErrorCode.NOT_IDENTIFIED,
      "Cannot register a guest nickname: choose a nickname first, then register it",
    ));
  }
  if (context.identifiedAs !== undefined) {
    return context.reply(errorMessage(
      ErrorCode.NICKNAME_REGISTERED,
      `Nickname "${nickname}" is registered already, and you hold it`,
    ));
  }
  if (!context.passwordsAccepted) return context.reply(notEncrypted());
  const problem = passwordProblem(request.password);
  if (problem !== undefined) {
    return context.reply(errorMessage(ErrorCode.AUTH_FAILED, `Cannot register: ${problem}`));
  }
  return context.accounts.register(nickname, request.password, requester(context)).then(
    (result) => {
      if (result.kind !== "registered") return context.reply(registerRefused(nickname, result));
      context.identify(result.key);
      context.logAccount("registered", nickname);
      context.reply(accountChanged(AccountChange.REGISTERED, nickname));
    },
  ).catch((error) => unavailable(context, error));
}

export function handleChangePassword(
  context: HandlerContext,
  request: ChangePasswordRequest,
): void | Promise<void> {
  const key = identifiedKey(context);
  if (key === undefined) return;
  const problem = passwordProblem(request.newPassword);
  if (problem !== undefined) {
    return context.reply(
      errorMessage(ErrorCode.AUTH_FAILED, `Cannot change the password: ${problem}`),
    );
  }
  const nickname = context.nickname;
  return checkOwnPassword(context, request.oldPassword, async () => {
    if (!await context.accounts.changePassword(key, request.newPassword, requester(context))) {
      return accountGone(context);
    }
    context.logAccount("password changed", nickname);
    context.reply(accountChanged(AccountChange.PASSWORD_CHANGED, nickname));
  });
}

export function handleUnregister(
  context: HandlerContext,
  request: UnregisterRequest,
): void | Promise<void> {
  const key = identifiedKey(context);
  if (key === undefined) return;
  const nickname = context.nickname;
  return checkOwnPassword(context, request.password, async () => {
    if (!await context.accounts.remove(key)) return accountGone(context);
    context.identify(undefined);
    context.logAccount("unregistered", nickname);
    context.reply(accountChanged(AccountChange.UNREGISTERED, nickname));
  });
}

/** The key of the session's account, or undefined once the client has been told why not. */
function identifiedKey(context: HandlerContext): string | undefined {
  if (!allowAccountRequest(context)) return undefined;
  const key = context.identifiedAs;
  if (key === undefined) {
    context.reply(errorMessage(
      ErrorCode.NOT_IDENTIFIED,
      `You are not identified as the owner of "${context.nickname}": ` +
        "take a registered nickname with its password first",
    ));
    return undefined;
  }
  if (!context.passwordsAccepted) {
    context.reply(notEncrypted());
    return undefined;
  }
  return key;
}

/** Runs `then` once `password` proved right for the session's account. */
function checkOwnPassword(
  context: HandlerContext,
  password: string,
  then: () => Promise<void>,
): Promise<void> {
  const nickname = context.nickname;
  return context.accounts.login(nickname, password, requester(context)).then((result) => {
    if (result.kind === "unknown") return accountGone(context);
    if (result.kind !== "identified") return context.reply(loginRefused(nickname, result));
    return then();
  }).catch((error) => unavailable(context, error));
}

/** Registrations and account changes share the rename limit: each costs a hash. */
function allowAccountRequest(context: HandlerContext): boolean {
  if (context.allowRename()) return true;
  context.reply(errorMessage(
    ErrorCode.RATE_LIMITED,
    "You are changing nicknames or accounts too often; try again in a minute",
  ));
  return false;
}

function registerRefused(
  nickname: string,
  result: Exclude<RegisterResult, { kind: "registered" }>,
) {
  switch (result.kind) {
    case "taken":
      return errorMessage(
        ErrorCode.NICKNAME_REGISTERED,
        `Cannot register "${nickname}": it, or a nickname that looks like it, is registered`,
      );
    case "full":
      return errorMessage(
        ErrorCode.UNAVAILABLE,
        `Cannot register "${nickname}": this server has as many accounts as it allows ` +
          `(${result.maxAccounts}); ask its operator`,
      );
    case "too_often":
      return errorMessage(
        ErrorCode.RATE_LIMITED,
        `Cannot register "${nickname}": ${REGISTRATIONS_PER_WINDOW} accounts were registered ` +
          `from your address within the hour; try again in ${waitText(result.waitMs)}`,
      );
  }
}

/** "40 s", "12 min". */
function waitText(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  return seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

/** Whom the account limits count. */
function requester(context: HandlerContext): AccountRequester {
  return { address: context.address, connection: context.sessionId };
}

function accountGone(context: HandlerContext): void {
  context.identify(undefined);
  context.reply(errorMessage(
    ErrorCode.NOT_IDENTIFIED,
    `The account "${context.nickname}" no longer exists (an operator may have removed it)`,
  ));
}

/** Renames, and answers a refusal (the hub confirms a success with RENAMED). */
function rename(context: HandlerContext, nickname: string): void | Promise<void> {
  const result = context.rename(nickname);
  if (result instanceof Promise) {
    return result.then((answer) => answerRename(context, nickname, answer));
  }
  answerRename(context, nickname, result);
}

function answerRename(context: HandlerContext, nickname: string, result: RenameResult): void {
  if (result === "taken") {
    context.reply(
      errorMessage(ErrorCode.NICKNAME_TAKEN, `Nickname "${nickname}" is already taken`),
    );
  } else if (result === "unavailable") {
    context.reply(errorMessage(
      ErrorCode.UNAVAILABLE,
      "Nicknames cannot be changed while this server is cut off from its cluster; try again later",
    ));
  }
}

function loginRefused(
  nickname: string,
  result: Exclude<LoginResult, { kind: "identified" }>,
) {
  if (result.kind === "locked") {
    const seconds = Math.ceil(result.lock.ms / 1000);
    const whose = result.lock.by === "account" ? `for "${nickname}"` : "from your address";
    return errorMessage(
      ErrorCode.AUTH_FAILED,
      `Too many failed logins ${whose}; try again in ${seconds} s`,
    );
  }
  if (result.kind === "unknown") {
    return errorMessage(
      ErrorCode.AUTH_FAILED,
      `No account is registered as "${nickname}": take it without a password, then register it`,
    );
  }
  return errorMessage(ErrorCode.AUTH_FAILED, `Wrong password for "${nickname}"`);
}

function notEncrypted() {
  return errorMessage(
    ErrorCode.PASSWORD_NOT_ENCRYPTED,
    "This connection is not encrypted, so the server takes no password over it " +
      "(it was not checked): connect with TLS",
  );
}

function accountChanged(change: AccountChange, nickname: string) {
  return { body: { case: "account" as const, value: { change, nickname } } };
}

/**
 * Storage out of reach, or too many hashes waiting (in the server: UNAVAILABLE; from the
 * client's address: RATE_LIMITED): the client may try again.
 */
function unavailable(context: HandlerContext, error: unknown): void {
  if (error instanceof HashTurnRefusedError) {
    return context.reply(errorMessage(ErrorCode.RATE_LIMITED, error.message));
  }
  if (
    !(error instanceof AccountsUnavailableError || error instanceof PasswordHashBusyError ||
      error instanceof PasswordHashFormatError)
  ) throw error;
  context.reply(errorMessage(ErrorCode.UNAVAILABLE, error.message));
}
