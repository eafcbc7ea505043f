/**
 * What the bench loads: a chat server or redis-server it starts itself (and always
 * stops), or one already running at an address the user gave.
 */
import { formatHostPort } from "../../net/format_host_port.ts";

const SERVER_SCRIPT = new URL("../../../server.ts", import.meta.url).pathname;
const PROJECT_ROOT = new URL("../../../", import.meta.url).pathname;
const STARTUP_MS = 60_000;
const STOP_MS = 5_000;

export interface ServerUnderTest extends AsyncDisposable {
  hostname: string;
  port: number;
  /** Set when the bench started it: its CPU time and memory can then be read. */
  pid: number | undefined;
  /** For the report's first line: "chat server (pid 1234)". */
  label: string;
  /**
   * True when it listens on every address, so connections may be spread over
   * 127.0.0.1, 127.0.0.2, ... (one loopback address runs short of ports past ~28000).
   */
  allLoopback: boolean;
}

/** Starts `deno run server.ts` on a free port, listening on 0.0.0.0, with no rate limit. */
export function startChatServer(extraArgs: string[]): Promise<ServerUnderTest> {
  return start(
    Deno.execPath(),
    [
      "run",
      "--allow-net",
      "--allow-env",
      // For --server-args "--workers N": workers load the server's modules and share the port.
      `--allow-read=${PROJECT_ROOT}`,
      "--unstable-net",
      SERVER_SCRIPT,
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--http-port",
      "0",
      "--rate-limit",
      "0",
      "--max-connections",
      "100000",
      "--quiet",
      ...extraArgs,
    ],
    // Printed once it handles its signals, after "listening on 0.0.0.0:<port>".
    /press Ctrl\+C to stop/,
    (text) => Number(/listening on [^\s]*:(\d+)/.exec(text)?.[1]),
    "chat server",
    true,
  );
}

/** Starts a private redis-server on a free loopback port, without persistence. */
export function startRedis(): Promise<ServerUnderTest> {
  const port = (() => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return listener.addr.port;
  })();
  return start(
    "redis-server",
    ["--port", `${port}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    /Ready to accept connections/,
    () => port,
    "redis-server",
    false,
  );
}

/** A server the bench did not start and will not stop. */
export function external(hostname: string, port: number, kind: string): ServerUnderTest {
  return {
    hostname,
    port,
    pid: undefined,
    label: `${kind} at ${formatHostPort(hostname, port)}`,
    allLoopback: false,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}

async function start(
  command: string,
  args: string[],
  ready: RegExp,
  portFrom: (text: string) => number,
  kind: string,
  allLoopback: boolean,
): Promise<ServerUnderTest> {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_MS);
    await child.status;
    clearTimeout(timer);
  };
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), STARTUP_MS);
  try {
    while (!ready.test(text)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`${kind} exited before it was ready:\n${text}`);
      text += value;
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  // Keep reading its output so it never blocks on a full pipe.
  (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();
  return {
    hostname: "127.0.0.1",
    port: portFrom(text),
    pid: child.pid,
    label: `${kind} (pid ${child.pid})`,
    allLoopback,
    [Symbol.asyncDispose]: stop,
  };
}

/** The --server / --redis address, or undefined to start a server of our own. */
export interface Address {
  hostname: string;
  port: number;
}

/** The server a scenario runs against: the one given, or one the bench starts. */
export function serverFor(
  target: "chat" | "redis",
  given: Address | undefined,
  serverArgs: string[],
): Promise<ServerUnderTest> {
  if (given !== undefined) {
    return Promise.resolve(external(given.hostname, given.port, `${target} server`));
  }
  return target === "redis" ? startRedis() : startChatServer(serverArgs);
}
