import { chunkBytes, FramedBatch, type OutboundChunk } from "./framed_batch.ts";

/**
 * Chunks queued behind a write past which they are compacted into one of their own
 * (FramedBatch.compact): a client that stops reading then holds what its queue counts,
 * not the shared slabs its chunks are views into.
 */
const COMPACT_AFTER = 16;

/** Where a queue's writes go: a Transport, say. */
export interface ChunkWriter {
  /** Writes these chunks completely; the queue never has two writes in flight. */
  write(chunks: readonly OutboundChunk[]): Promise<void>;
}

/** Told when a write fails; the queue has stopped by then. */
export interface WriteFailureListener {
  writeFailed(error: unknown): void;
}

/**
 * A session's outgoing frames. Frames queued while a write is in flight go out
 * together in the next one, so a burst of events costs one write, and a slow
 * client only ever delays itself: `push` never waits.
 *
 * It takes objects rather than callbacks, and makes its drained promise only when
 * asked: every idle connection has a queue, so what each one holds adds up.
 */
export class OutboundQueue {
  readonly #writer: ChunkWriter;
  readonly #writeFailure: WriteFailureListener;
  #pending: OutboundChunk[] = [];
  #pendingBytes = 0;
  /** Chunks pushed since the queue was last emptied or compacted. */
  #loose = 0;
  #writingBytes = 0;
  #flushing = false;
  #writeStartedAt: number | undefined;
  #stopped = false;
  #drained: PromiseWithResolvers<void> | undefined;

  constructor(writer: ChunkWriter, writeFailure: WriteFailureListener) {
    this.#writer = writer;
    this.#writeFailure = writeFailure;
  }

  /** Bytes not yet written: queued, plus those of the write in flight. */
  get pendingBytes(): number {
    return this.#pendingBytes + this.#writingBytes;
  }

  /** When the write in flight began (performance.now()), or undefined when none is. */
  get writeStartedAt(): number | undefined {
    return this.#writeStartedAt;
  }

  /** True when nothing is queued and no write is in flight. */
  get isDrained(): boolean {
    return !this.#flushing && this.#pending.length === 0;
  }

  /** Queues an encoded frame payload or a batch. The same bytes may be queued on many sessions. */
  push(chunk: OutboundChunk): void {
    if (this.#stopped) return;
    this.#pending.push(chunk);
    this.#pendingBytes += chunkBytes(chunk);
    if (++this.#loose === COMPACT_AFTER) this.#compact();
    if (!this.#flushing) {
      this.#flushing = true;
      // Wait for the current task to finish so everything it queues shares one write.
      queueMicrotask(() => this.#flush());
    }
  }

  /** Resolves once everything queued so far is written, or the queue is stopped. */
  drained(): Promise<void> {
    if (this.isDrained || this.#stopped) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /** Drops what is queued but not yet handed to a write; a write in flight goes on. */
  clear(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#loose = 0;
  }

  /** Drops what is queued and accepts nothing more. */
  stop(): void {
    this.#stopped = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#loose = 0;
    this.#resolveDrained();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0 && !this.#stopped) {
        const batch = this.#pending;
        this.#writingBytes = this.#pendingBytes;
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#loose = 0;
        this.#writeStartedAt = performance.now();
        await this.#writer.write(batch);
        this.#writingBytes = 0;
        this.#writeStartedAt = undefined;
      }
    } catch (error) {
      this.stop();
      this.#writeFailure.writeFailed(error);
    } finally {
      this.#writingBytes = 0;
      this.#writeStartedAt = undefined;
      this.#flushing = false;
      this.#resolveDrained();
    }
  }

  #compact(): void {
    const loose = this.#pending.splice(this.#pending.length - this.#loose);
    const batch = FramedBatch.compact(loose);
    this.#pending.push(batch);
    for (const chunk of loose) this.#pendingBytes -= chunkBytes(chunk);
    this.#pendingBytes += chunkBytes(batch);
    this.#loose = 0;
  }

  #resolveDrained(): void {
    if (!this.isDrained && !this.#stopped) return;
    this.#drained?.resolve();
    this.#drained = undefined;
  }
}
