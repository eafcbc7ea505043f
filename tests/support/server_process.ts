import { type CommandRun, runCommand } from "./run_command.ts";
import { deadline } from "./deadline.ts";
import { LineReader } from "./line_reader.ts";

const ROOT = new URL("../../", import.meta.url);
export const SERVER_SCRIPT = new URL("server.ts", ROOT).pathname;
export const CLIENT_SCRIPT = new URL("client.ts", ROOT).pathname;

/**
 * Servers under test poison their reused buffers (lib/net/poison_buffer.ts), so that code
 * keeping a view of one past the call that lent it fails a test at once; CHAT_POISON_BUFFERS=0
 * in the tests' environment turns it off. The default launcher may read that one variable.
 */
const POISON_ENV = { CHAT_POISON_BUFFERS: Deno.env.get("CHAT_POISON_BUFFERS") ?? "1" };
const DEFAULT_LAUNCHER = [
  Deno.execPath(),
  "run",
  "--allow-net",
  "--allow-env=CHAT_POISON_BUFFERS",
  SERVER_SCRIPT,
];

/** The real server, as a child process on a free loopback port. */
export class ServerProcess implements AsyncDisposable {
  readonly port: number;
  readonly process: Deno.ChildProcess;
  readonly stdout: LineReader;
  readonly stderr: LineReader;
  /** The history folder made for this server, removed with it; undefined when the test chose. */
  readonly dataDir: string | undefined;

  private constructor(
    port: number,
    process: Deno.ChildProcess,
    stdout: LineReader,
    stderr: LineReader,
    dataDir: string | undefined,
  ) {
    this.port = port;
    this.process = process;
    this.stdout = stdout;
    this.stderr = stderr;
    this.dataDir = dataDir;
  }

  /**
   * Starts the server with `--host 127.0.0.1 --port 0 ...args` and waits for its
   * "listening" line. `launcher` runs it: `deno run server.ts` unless told otherwise; in
   * folder `cwd` if given, with `env` added to the environment.
   */
  static async start(
    args: string[] = [],
    launcher: string[] = DEFAULT_LAUNCHER,
    { cwd, env }: { cwd?: string; env?: Record<string, string> } = {},
  ): Promise<ServerProcess> {
    // History of its own, in a fresh folder, unless the test chose one: the default,
    // chat-data in the working directory, would be shared by every test, and one server at
    // a time may use a folder.
    const dataDir = args.includes("--data-dir")
      ? undefined
      : await Deno.makeTempDir({ prefix: "chat-data-" });
    if (dataDir !== undefined && launcher === DEFAULT_LAUNCHER) {
      const [deno, run, ...rest] = DEFAULT_LAUNCHER;
      launcher = [deno, run, `--allow-read=${dataDir}`, `--allow-write=${dataDir}`, ...rest];
    }
    const [command, ...launcherArgs] = launcher;
    const process = new Deno.Command(command, {
      cwd,
      env: { ...POISON_ENV, ...env },
      // No HTTP unless a test asks for it: many servers run at once, and 8081 is one port.
      args: [
        ...launcherArgs,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--http-port",
        "0",
        ...(dataDir === undefined ? [] : ["--data-dir", dataDir]),
        ...args,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new LineReader(process.stdout);
    const stderr = new LineReader(process.stderr);
    // A server that exits before it is ready fails the start at once, not after the timeout.
    const exited = process.status.then((status) => {
      throw new Error(`the server exited with code ${status.code}`);
    });
    exited.catch(() => {}); // Only the races below care.
    try {
      const line = await Promise.race([stdout.waitFor(/listening on /, 60_000), exited]);
      // Text and JSON logs alike: "listening on 127.0.0.1:38393".
      const port = Number(/listening on [^\s"]*:(\d+)/.exec(line)![1]);
      // Printed once the server handles its signals (SIGINT, SIGUSR2...).
      await Promise.race([stdout.waitFor("press Ctrl+C to stop", 60_000), exited]);
      return new ServerProcess(port, process, stdout, stderr, dataDir);
    } catch (error) {
      try {
        process.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await process.status;
      await stderr.done;
      throw new Error(`Server did not start. stderr:\n${stderr.text}`, { cause: error });
    }
  }

  /**
   * Runs the server with `args` alone (no --host or --port added) to its exit, for the
   * runs that fail at start-up or exit at once. `launcher` and `cwd` as for `start`.
   */
  static run(
    args: string[],
    launcher: string[] = [Deno.execPath(), "run", "--allow-net", SERVER_SCRIPT],
    { cwd }: { cwd?: string } = {},
  ): Promise<CommandRun> {
    return runCommand([...launcher, ...args], { cwd });
  }

  /**
   * The server's counters, asked for with SIGUSR2. Needs a server started with
   * `--log-format json`, whose stats line carries them as fields.
   */
  async stats(): Promise<Record<string, number>> {
    const from = this.stdout.lines.length;
    this.process.kill("SIGUSR2");
    return JSON.parse(await this.stdout.waitFor(/"event":"stats"/, 10_000, from));
  }

  /** Sends a signal and waits for the exit status. */
  async stop(signal: Deno.Signal = "SIGINT", ms = 20_000): Promise<Deno.CommandStatus> {
    try {
      this.process.kill(signal);
    } catch {
      // Already exited.
    }
    const status = await deadline(this.process.status, ms, "the server to exit");
    await Promise.all([this.stdout.done, this.stderr.done]);
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.process.status;
    await Promise.all([this.stdout.done, this.stderr.done]);
    if (this.dataDir !== undefined) await Deno.remove(this.dataDir, { recursive: true });
  }
}
