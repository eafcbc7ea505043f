/**
 * Writes to a socket from two reused buffers: messages are appended to one while the
 * other is being written, so whatever accumulates during a write goes out in the next
 * single write, and no buffer is allocated per message. The buffer being written is
 * never touched, as Deno may read it until the write resolves.
 */
export class SocketWriter {
  #pending: Uint8Array;
  #spare: Uint8Array;
  #length = 0;
  #writing = false;
  /** Set when a write fails; later appends are dropped. */
  failure: unknown;

  constructor(readonly conn: Deno.Conn, initialBytes = 16 * 1024) {
    this.#pending = new Uint8Array(initialBytes);
    this.#spare = new Uint8Array(initialBytes);
  }

  /** Where the caller fills what it reserved. */
  get buffer(): Uint8Array {
    return this.#pending;
  }

  /**
   * Makes room for `bytes` in `buffer` and returns their offset; `commit` must follow
   * before the next reserve.
   */
  reserve(bytes: number): number {
    if (this.#length + bytes > this.#pending.length) {
      const grown = new Uint8Array(Math.max(this.#pending.length * 2, this.#length + bytes));
      grown.set(this.#pending.subarray(0, this.#length));
      this.#pending = grown;
    }
    return this.#length;
  }

  /**
   * Queues the `bytes` written after `reserve`. When idle, writes once the current task
   * is done, so that everything it commits (a window refilled after a read full of
   * replies) goes out in one write.
   */
  commit(bytes: number): void {
    if (this.failure !== undefined) return;
    this.#length += bytes;
    if (!this.#writing) {
      this.#writing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#length > 0) {
        const out = this.#pending;
        const length = this.#length;
        this.#pending = this.#spare;
        this.#spare = out;
        this.#length = 0;
        for (let written = 0; written < length;) {
          written += await this.conn.write(out.subarray(written, length));
        }
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.#writing = false;
    }
  }
}
