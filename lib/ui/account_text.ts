import { AccountChange, ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { printable } from "./printable.ts";

/** Which client a text is for: each tells the user what to do in its own terms. */
export type Surface = "terminal" | "page";

/** Why a password was not sent to `host`, and how to get a connection that takes one. */
export function passwordWithheldText(host: string, surface: Surface): string {
  const encrypt = surface === "terminal"
    ? "Connect with --tls (the server needs --tls-cert)"
    : "Open the page over https:// (the server needs --tls-cert)";
  return `Not sending your password: the connection to ${host} is not encrypted. ${encrypt}, ` +
    "or the server must allow it with --allow-plaintext-passwords.";
}

/** `you are identified as alice`: what an AccountChanged tells, without its `* `. */
export function accountChangedText(
  change: AccountChange,
  nickname: string,
  surface: Surface,
): string {
  const name = printable(nickname);
  switch (change) {
    case AccountChange.IDENTIFIED:
      return `you are identified as ${name}`;
    case AccountChange.REGISTERED:
      return surface === "terminal"
        ? `${name} is registered; use --password-file or /identify to take it next time`
        : `${name} is registered; log in with its password to take it next time`;
    case AccountChange.PASSWORD_CHANGED:
      return `the password of ${name} is changed`;
    case AccountChange.UNREGISTERED:
      return `${name} is no longer registered; anyone may take it`;
    default:
      return `the account ${name} changed`;
  }
}

/**
 * Why a client without a password cannot use a server that admits registered users only,
 * and what to do, for a client that cannot ask for one.
 */
export function loginRequiredText(surface: Surface): string {
  return surface === "terminal"
    ? "this server admits registered users only: connect with --nick NAME --password-file FILE"
    : "this server admits registered users only: log in with your nickname and password";
}

/**
 * What to do after an account error, in the user's terms; undefined for other errors, and
 * where the server's words say it already. `passwordFile`: where the password refused came
 * from, when it came from --password-file.
 */
export function accountErrorHint(
  code: ErrorCode,
  message: string,
  surface: Surface,
  passwordFile?: string,
): string | undefined {
  const terminal = surface === "terminal";
  switch (code) {
    case ErrorCode.AUTH_FAILED:
      // Not for a lock ("Too many failed logins"), nor a new password refused.
      if (!message.startsWith("Wrong password")) return undefined;
      return passwordFile === undefined
        ? "check the password"
        : `check the password in ${passwordFile}`;
    case ErrorCode.NICKNAME_REGISTERED:
      return terminal
        ? "if it is yours, /identify NAME PASSWORD takes it"
        : "if it is yours, log in with its password";
    case ErrorCode.PASSWORD_NOT_ENCRYPTED:
      return terminal
        ? "the password was not checked: connect with --tls"
        : "the password was not checked: open the page over https://";
    case ErrorCode.NOT_IDENTIFIED:
      // A guest registering is told to choose a nickname, which is the whole answer.
      if (message.startsWith("Cannot register")) return undefined;
      return terminal
        ? "identify first (/identify NAME PASSWORD), or /register PASSWORD to own your nickname"
        : "log in first, or register your nickname";
    default:
      // AUTH_REQUIRED: the server's words say what to do.
      return undefined;
  }
}

/**
 * `Cannot change the password: the password is 5 bytes long...`: a server's sentence joined
 * after a colon starts lower case.
 */
export function joinedSentence(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}
