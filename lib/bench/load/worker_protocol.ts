/**
 * How the coordinating process and its workers talk: one JSON object per line, the
 * coordinator writing to a worker's stdin and the worker answering on its stdout.
 * Every message has a `type`; each side waits for the type it expects next, so a
 * scenario's steps (ready, go, ..., result) read as plain sequential code on both sides.
 */
import { writeTextSync } from "../../util/write_text_sync.ts";

const TOOL = new URL("../load_tool.ts", import.meta.url).pathname;
const encoder = new TextEncoder();

export interface Message {
  type: string;
}

/** Splits a byte stream into JSON messages, one per line. */
async function* messages(stream: ReadableStream<Uint8Array>): AsyncGenerator<Message> {
  let partial = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) if (line.trim() !== "") yield JSON.parse(line);
  }
}

/** Waits for the next message, which must be of `type`. */
async function expect<T extends Message>(
  from: AsyncGenerator<Message>,
  type: T["type"],
  ended: () => string,
): Promise<T> {
  const { value, done } = await from.next();
  if (done) throw new Error(ended());
  if (value.type !== type) throw new Error(`expected a "${type}" message, got "${value.type}"`);
  return value as T;
}

/** The coordinator's side: K worker processes of this tool. */
export class WorkerPool implements AsyncDisposable {
  readonly #children: Deno.ChildProcess[];
  readonly #inputs: WritableStreamDefaultWriter<Uint8Array>[];
  readonly #outputs: AsyncGenerator<Message>[];
  readonly #exits: (number | undefined)[];

  /** Starts one worker per argument list: `load_tool.ts <...args> --worker`. */
  constructor(argLists: string[][]) {
    this.#children = argLists.map((args) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", TOOL, ...args, "--worker"],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn()
    );
    this.#exits = this.#children.map(() => undefined);
    this.#children.forEach((child, index) =>
      child.status.then((status) => this.#exits[index] = status.code)
    );
    this.#inputs = this.#children.map((child) => child.stdin.getWriter());
    this.#outputs = this.#children.map((child) => messages(child.stdout));
  }

  get pids(): number[] {
    return this.#children.map((child) => child.pid);
  }

  /** One message of `type` from every worker, in worker order, within `ms`. */
  async expectAll<T extends Message>(type: T["type"], ms: number): Promise<T[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`workers did not send "${type}" within ${ms / 1000} s`)),
        ms,
      );
    });
    try {
      return await Promise.race([
        Promise.all(
          this.#outputs.map((output, index) =>
            expect<T>(output, type, () => `worker ${index + 1} exited before "${type}"`)
          ),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async send<T extends Message>(index: number, message: T): Promise<void> {
    await this.#inputs[index].write(encoder.encode(JSON.stringify(message) + "\n"));
  }

  async sendAll<T extends Message>(message: T): Promise<void> {
    await Promise.all(this.#inputs.map((_, index) => this.send(index, message)));
  }

  /** Kills the workers still running. */
  kill(): void {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }
  }

  /** Closes the workers' stdin, which tells them to exit; kills those that linger. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.#inputs.map((input) => input.close().catch(() => {})));
    const timer = setTimeout(() => this.kill(), 10_000);
    await Promise.all(this.#children.map((child) => child.status));
    clearTimeout(timer);
  }
}

/** The worker's side: messages from the coordinator on stdin, answers on stdout. */
export class CoordinatorLink {
  readonly #input = messages(Deno.stdin.readable);

  /** The coordinator closing our stdin means it is gone or done: nothing left to do. */
  expect<T extends Message>(type: T["type"]): Promise<T> {
    return expect<T>(this.#input, type, () => Deno.exit(0));
  }

  send<T extends Message>(message: T): void {
    writeTextSync(Deno.stdout, JSON.stringify(message) + "\n");
  }
}
