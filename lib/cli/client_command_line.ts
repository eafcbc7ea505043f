import {
  Command,
  type CommandUnknownOpts,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { parseFingerprint } from "../client/certificate_fingerprint.ts";
import type { ClientTlsOptions } from "../client/tls_connect.ts";
import { describeError } from "../util/describe_error.ts";
import { VERSION } from "../version.ts";
import { parseCount, parseSeconds } from "./option_parsers.ts";
import { configureProgram, parseArguments, runProgram, USAGE_EXIT_CODE } from "./run_program.ts";

/** What the client was asked to do. */
export interface ClientCommandLine {
  hostname: string;
  port: number;
  /** Empty: keep the guest name the server assigns. */
  nickname: string;
  /** --password-file: where the password of the --nick account is, on its first line. */
  passwordFile?: string;
  mode: Action;
  /** Retries after the first failed connection attempt. */
  retries: number;
  replyTimeoutSeconds: number;
  /** Set for `client send TEXT`: send one message, print the reply, exit. */
  oneShotText?: string;
  /** No arguments at all: on a console, ask for the server and nickname. */
  noArguments: boolean;
  /** Set for --tls, --ca or --fingerprint: connect over TLS, verified so. */
  tls?: ClientTlsOptions;
}

/** Reads the client's command line; exits on --help, --version or a usage error. */
export async function parseClientCommandLine(args: string[]): Promise<ClientCommandLine> {
  let oneShotText: string | undefined;
  const program = configureProgram(new Command())
    .name("client")
    .description(
      "Chat client. Interactive on a terminal; with piped input, sends each line and prints the replies.",
    )
    .version(VERSION, "-V, --version")
    .configureHelp({ showGlobalOptions: true })
    .option("--host <address>", "server address", "127.0.0.1")
    .option("-p, --port <port>", "server port", parseServerPort, 8080)
    .option("-n, --nick <name>", "nickname (default: the guest name the server assigns)")
    .option("--password-file <file>", "the --nick account's password, on the file's first line")
    .addOption(new Option("--echo", "send lines as echo (back to you only)").conflicts("broadcast"))
    .addOption(new Option("--broadcast", "send lines as broadcast (to everyone; the default)"))
    .option("--retries <count>", "connection retries before giving up", parseCount, 4)
    .option("--tls", "connect over TLS, verifying the server through the system's authorities")
    .option("--ca <file>", "also trust the authority in this PEM file (implies --tls)")
    .addOption(
      new Option(
        "--fingerprint <sha256>",
        "trust the server's self-signed certificate with this SHA-256 fingerprint (implies --tls)",
      ).argParser(parseFingerprintOption).conflicts("ca"),
    )
    .option(
      "--timeout <seconds>",
      "how long to wait for the server's replies, the welcome included",
      parseSeconds,
      10,
    )
    // Without an action of its own, commander would print help when no subcommand is given.
    .action((options, command) => {
      if (options.passwordFile !== undefined && options.nick === undefined) {
        command.error("error: --password-file needs --nick: the nickname whose password it is");
      }
    });
  program
    .command("send")
    .description("send one message, print the reply and exit")
    .argument("<text...>", "the message")
    .action((words, _options, command) => {
      oneShotText = words.join(" ");
      if (oneShotText.trim() === "") command.error("error: the message to send is empty");
    });
  await parseArguments(program, args);
  const options = program.opts();
  const caCerts = options.ca === undefined ? undefined : await readCa(program, options.ca);
  const tls = options.tls || caCerts !== undefined || options.fingerprint !== undefined
    ? { caCerts, fingerprint: options.fingerprint }
    : undefined;
  return {
    hostname: options.host,
    port: options.port,
    nickname: options.nick ?? "",
    passwordFile: options.passwordFile,
    mode: options.echo ? Action.ECHO : Action.BROADCAST,
    retries: options.retries,
    replyTimeoutSeconds: options.timeout,
    oneShotText,
    noArguments: args.length === 0,
    tls,
  };
}

/** The certificates of --ca; a file that cannot be read, or holds none, is a usage error. */
async function readCa(program: CommandUnknownOpts, file: string): Promise<string[]> {
  let pem = "";
  // deno-lint-ignore require-await
  await runProgram(async () => {
    try {
      pem = Deno.readTextFileSync(file);
    } catch (error) {
      program.error(`error: --ca ${file}: cannot read it (${describeError(error)})`, {
        exitCode: USAGE_EXIT_CODE,
      });
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      program.error(`error: --ca ${file}: it holds no PEM certificate`, {
        exitCode: USAGE_EXIT_CODE,
      });
    }
  });
  return [pem];
}

/** A SHA-256 fingerprint, kept as typed once it is known to be one. */
function parseFingerprintOption(value: string): string {
  if (parseFingerprint(value) === undefined) {
    throw new InvalidArgumentError(
      "Expected a SHA-256 fingerprint: 32 hex pairs such as AB:CD:..., or 64 hex digits.",
    );
  }
  return value;
}

/** A port to connect to: unlike a port to listen on, 0 (any free port) makes no sense. */
function parseServerPort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new InvalidArgumentError("Expected a port number from 1 to 65535.");
  }
  return port;
}
