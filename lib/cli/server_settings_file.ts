import { parse, stringify, TomlError } from "smol-toml";
import {
  CommanderError,
  type CommandUnknownOpts,
  InvalidArgumentError,
  type Option,
} from "@commander-js/extra-typings";
import { describeError } from "../util/describe_error.ts";
import { excerpt } from "./excerpt.ts";

/** The largest settings file read: anything larger is not one, and reading it could last forever. */
const MAX_FILE_BYTES = 1024 * 1024;

/** Long options that are about the settings file itself, or not settings at all. */
const NOT_SETTINGS = new Set(["--config", "--write-config", "--version"]);

/**
 * The server's settings file, in TOML: each key is a long option of the command line
 * without its "--" (`max-connections = 500`), and its value goes through the option's own
 * parser, so the file and the flags accept the same values. The command line wins.
 *
 * The keys come from the program's options: an option added to the command line is a
 * setting at once. An option whose argument is written `<name,...>` takes a comma-separated
 * list, which the file may also give as a TOML array of strings.
 *
 * Every problem is one line through `program.error`, as for a bad flag (exit code 2).
 */
export class ServerSettingsFile {
  /** What the server reads from the folder it starts in, as a double-clicked server.exe does. */
  static readonly NAME = "chat-server.toml";

  readonly #program: CommandUnknownOpts;
  readonly #settings: Option[];

  /** False when the program may not read `path`: looking for it would prompt, or fail. */
  static mayRead(path: string): boolean {
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  }

  constructor(program: CommandUnknownOpts) {
    this.#program = program;
    this.#settings = program.options.filter((option) =>
      option.long !== undefined && !NOT_SETTINGS.has(option.long)
    );
  }

  /**
   * Applies the file at `path` to every option the command line left alone, and returns
   * the file's full path. A file that is not there is skipped unless `required`; so is one
   * the program may not read (`deno run --allow-net server.ts`): asking would prompt.
   */
  read(path: string, required: boolean): string | undefined {
    if (!required && !ServerSettingsFile.mayRead(path)) return undefined;
    let bytes: Uint8Array;
    let fullPath: string;
    try {
      // Stat first: reading /dev/zero never ends, and opening a FIFO waits for a writer.
      const info = Deno.statSync(path);
      if (!info.isFile) this.#fail(`The settings file ${excerpt(path)} is not a regular file`);
      if (info.size > MAX_FILE_BYTES) {
        this.#fail(`The settings file ${excerpt(path)} is larger than 1 MiB`);
      }
      bytes = Deno.readFileSync(path);
      fullPath = Deno.realPathSync(path);
    } catch (error) {
      if (error instanceof CommanderError) throw error;
      if (error instanceof Deno.errors.NotFound && !required) return undefined;
      this.#fail(`Cannot read the settings file ${excerpt(path)}: ${fileFailure(error)}`);
    }
    // It may have grown since the stat.
    if (bytes.length > MAX_FILE_BYTES) {
      this.#fail(`The settings file ${excerpt(path)} is larger than 1 MiB`);
    }
    this.#apply(excerpt(fullPath), new TextDecoder().decode(bytes));
    return fullPath;
  }

  /** The settings that the file read gave: those the command line left alone. */
  keys(): string[] {
    return this.#settings.filter((option) =>
      this.#program.getOptionValueSource(option.attributeName()) === "config"
    ).map(key);
  }

  /**
   * Writes a file listing every setting, each under its help text, and returns a line
   * saying what it wrote. Options given on the command line are set; every other one is
   * commented out at its default, so the file changes only what its owner uncomments, and
   * a later version's defaults still apply to the rest. Never overwrites a file.
   */
  write(path: string): string {
    try {
      Deno.writeTextFileSync(path, this.#text(), { createNew: true });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) {
        this.#fail(
          `${excerpt(fullPathOf(path))} already exists; not overwriting it ` +
            "(remove it, or name another file with --config)",
        );
      }
      this.#fail(`Cannot write the settings file ${excerpt(path)}: ${fileFailure(error)}`);
    }
    const given = this.#settings.filter((option) => this.#fromCommandLine(option)).map(key);
    return `wrote ${Deno.realPathSync(path)}: ${this.#settings.length} settings, ` +
      (given.length === 0
        ? "each commented out at its default"
        : `${given.join(", ")} as given, the others commented out at their defaults`);
  }

  #text(): string {
    const program = this.#program.name();
    const lines = [
      `# Settings for the chat server. It reads ${ServerSettingsFile.NAME} from the folder it`,
      `# starts in, or the file that --config names. Each key is a long option of`,
      `# \`${program} --help\` without its "--". An option given on the command line wins.`,
      '# A line "# key = value" shows the default: remove the "# " to change it.',
    ];
    for (const option of this.#settings) {
      const choices = option.argChoices ? ` (one of: ${option.argChoices.join(", ")})` : "";
      lines.push("", `# ${option.description}${choices}`);
      if (this.#fromCommandLine(option)) {
        lines.push(toml(key(option), this.#program.getOptionValue(option.attributeName())));
      } else if (option.defaultValue !== undefined) {
        lines.push(`# ${toml(key(option), option.defaultValue)}`);
      } else {
        // No default to show: the argument's name, as --help shows it, in TOML's shape.
        const name = /<([^,>]+)/.exec(option.flags)![1];
        lines.push(`# ${key(option)} = ${isList(option) ? `["<${name}>"]` : `"<${name}>"`}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }

  #apply(path: string, text: string): void {
    let table: Record<string, unknown>;
    try {
      table = parse(text);
    } catch (error) {
      if (!(error instanceof TomlError)) throw error;
      // smol-toml's message goes on with a picture of the line; the line and column say it.
      const what = excerpt(error.message.split("\n")[0].replace(/^Invalid TOML document: /, ""));
      this.#fail(`${path}: line ${error.line}, column ${error.column}: ${what}`);
    }
    for (const [name, value] of Object.entries(table)) {
      const option = this.#settings.find((option) => key(option) === name);
      if (option === undefined) {
        this.#fail(
          `${path}: unknown setting "${excerpt(name)}"; the settings are the long options of ` +
            `${this.#program.name()} --help, without "--"`,
        );
      }
      // Checked even when the command line overrides it: the file must be right on its own.
      const parsed = this.#parse(option, value, `${path}: ${name}`);
      if (!this.#fromCommandLine(option)) {
        this.#program.setOptionValueWithSource(option.attributeName(), parsed, "config");
      }
    }
  }

  /** A TOML value as the option's parser takes it, from a string as on the command line. */
  #parse(option: Option, value: unknown, where: string): unknown {
    if (option.isBoolean()) {
      if (typeof value !== "boolean") {
        this.#fail(`${where} must be true or false, not ${show(value)}`);
      }
      return value;
    }
    let text: string;
    if (typeof value === "string") text = value;
    else if (typeof value === "number") {
      if (!Number.isFinite(value)) {
        this.#fail(`${where} must be a finite number, not ${show(value)}`);
      }
      text = plainNumber(value);
    } else if (
      isList(option) && Array.isArray(value) && value.every((item) => typeof item === "string")
    ) {
      text = value.join(",");
    } else {
      const expected = isList(option) ? "a string or a list of strings" : "a string or a number";
      this.#fail(`${where} must be ${expected}, not ${show(value)}`);
    }
    if (option.parseArg === undefined) return text;
    try {
      return option.parseArg(text, undefined);
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      this.#fail(`${where} = ${show(value)} is invalid. ${error.message}`);
    }
  }

  #fromCommandLine(option: Option): boolean {
    return this.#program.getOptionValueSource(option.attributeName()) === "cli";
  }

  #fail(message: string): never {
    this.#program.error(`error: ${message}`, { exitCode: 2 });
  }
}

/** The option's name in the file: its long flag without "--". */
function key(option: Option): string {
  return option.long!.slice(2);
}

/** `key = value`, in TOML. */
function toml(key: string, value: unknown): string {
  return stringify({ [key]: value }).trimEnd();
}

function isList(option: Option): boolean {
  return option.flags.includes(",...>");
}

/** A value from the file, quoted as TOML writes it, safe and short enough for one line. */
function show(value: unknown): string {
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return "a table";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "nan";
    return Number.isFinite(value) ? plainNumber(value) : value > 0 ? "inf" : "-inf";
  }
  if (typeof value === "string") return JSON.stringify(excerpt(value));
  return excerpt(JSON.stringify(value));
}

/**
 * A number as the command line would give it, without an exponent: String() writes 1e-7
 * and 1e+21, which no option's parser takes.
 */
function plainNumber(value: number): string {
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(String(value));
  if (match === null) return String(value);
  const [, sign, first, rest = "", exponent] = match;
  const digits = first + rest;
  const point = 1 + Number(exponent);
  return point <= 0
    ? `${sign}0.${"0".repeat(-point)}${digits}`
    : `${sign}${digits.padEnd(point, "0")}`;
}

/** The full path of `path` if it resolves, as a dangling symbolic link does not. */
function fullPathOf(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

function fileFailure(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return describeError(error);
}
