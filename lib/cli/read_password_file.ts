import { describeError } from "../util/describe_error.ts";

/**
 * The password in `path`: its first line, without the line end. Throws
 * PasswordFileError, in plain words, when the file cannot be read or that line is empty.
 */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable
      ? "the client may not read files (run it with --allow-read)"
      : describeError(error);
    throw new PasswordFileError(`Cannot read the password file ${path}: ${why}`);
  }
  const password = text.split(/\r?\n/, 1)[0];
  if (password === "") {
    throw new PasswordFileError(
      `The password file ${path} is empty: its first line should hold the password`,
    );
  }
  return password;
}

/** The password file cannot be used; the message says why. */
export class PasswordFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PasswordFileError";
  }
}
