import { deadline } from "./deadline.ts";

/**
 * Collects a stream's text lines as they arrive and lets a test wait for a line
 * that matches, instead of sleeping.
 */
export class LineReader {
  readonly lines: string[] = [];
  readonly done: Promise<void>;
  #partial = "";
  #waiters: { test: (line: string) => boolean; from: number; resolve: (line: string) => void }[] =
    [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#read(stream);
  }

  /** All the text so far, lines joined with "\n". */
  get text(): string {
    return [...this.lines, this.#partial].join("\n");
  }

  /**
   * The first line (from line index `from` on) that matches, waiting up to `ms`.
   * Rejects with everything read so far when it does not come.
   */
  waitFor(pattern: RegExp | string, ms = 10_000, from = 0): Promise<string> {
    const test = typeof pattern === "string"
      ? (line: string) => line.includes(pattern)
      : (line: string) => pattern.test(line);
    const found = this.lines.slice(from).find(test);
    if (found !== undefined) return Promise.resolve(found);
    const waiting = new Promise<string>((resolve) => this.#waiters.push({ test, from, resolve }));
    return deadline(waiting, ms, () => `a line matching ${pattern}; got:\n${this.text}`);
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (this.#partial + chunk).split("\n");
      this.#partial = parts.pop()!;
      for (const line of parts) this.#add(line.replace(/\r$/, ""));
    }
    if (this.#partial !== "") this.#add(this.#partial);
    this.#partial = "";
  }

  #add(line: string): void {
    this.lines.push(line);
    const index = this.lines.length - 1;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (index < waiter.from || !waiter.test(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }
}
