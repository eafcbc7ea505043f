import { allocateBytes } from "../protocol/allocate_bytes.ts";
import { varint } from "../protocol/varint.ts";
import { BroadcastLog } from "./broadcast_log.ts";
import { type SlotHolder, WriteSlots } from "./write_slots.ts";

/**
 * Writes in flight at once, over every queue of the process (see WriteSlots). Measured with
 * ../shared/bench/compare.sh at 1,000 and 10,000 clients: 4 to 64 all did far better than
 * no cap (p99 1.5 s at 1,000 clients, window 1, and 12 ms with 64); 16 did best at 10,000.
 */
const SLOTS = new WriteSlots(16);

/** Where a queue's writes go: a Transport, say. */
export interface ChunkWriter {
  /**
   * Writes these runs of whole frames (each a varint length, then the payload), in order
   * and completely. The queue never has two writes in flight. The array is the queue's
   * and is reused: it is read during the call only.
   */
  write(framed: readonly Uint8Array[]): Promise<void>;
}

/** Told when a write fails; the queue has stopped by then. */
export interface WriteFailureListener {
  writeFailed(error: unknown): void;
}

/** A log the queue follows, and how far it has taken and written it. */
interface Following {
  readonly log: BroadcastLog;
  /** Log frames taken so far, for counters; `log.framesAppended` when they were last taken. */
  framesSeen: number;
  /** The log position up to which the log's bytes have been taken (into #pending or a write). */
  taken: number;
  /** The log position up to which the log's bytes have been written. */
  written: number;
  /** The log position the write in flight ends at. */
  writingTo: number;
}

/**
 * A connection's outgoing frames: those of the broadcast logs it follows (one per room it
 * is in), each read from its own position, and its private frames (replies, errors) in
 * the order they were produced relative to the logs: a private frame goes behind every
 * log frame the connection was due when it was queued. Broadcasts cost the queue nothing until its owner calls
 * `writeLog`, once per pass: then everything the log gained since goes out in one
 * write, as views of the log's own bytes. Private frames go out at the end of the task
 * that queued them, with the log's frames due before them. A slow client only ever
 * delays itself: nothing here waits.
 *
 * It takes objects rather than callbacks, and writes with two callbacks made once: every
 * idle connection has a queue, so what each one holds adds up, and at thousands of writes
 * a second, so does what each write allocates.
 */
export class OutboundQueue implements SlotHolder {
  readonly #writer: ChunkWriter;
  readonly #writeFailure: WriteFailureListener;
  /** Framed bytes taken but not yet handed to a write: private frames and the log before them. */
  #pending: Uint8Array[] = [];
  /** The array the write in flight was given, reused for the next: one fewer per write. */
  #spare: Uint8Array[] = [];
  #pendingPrivateBytes = 0;
  #writingPrivateBytes = 0;
  /** Few: a session is in a handful of rooms, so a scan beats a map. */
  #follows: Following[] = [];
  #logFramesTaken = 0;
  /** Idle; waiting for a write slot (or for the current task to end); or writing. */
  #state: "idle" | "waiting" | "writing" = "idle";
  /** A pass came while a write was in flight: the log's frames go out as soon as it ends. */
  #passMissed = false;
  #writeStartedAt: number | undefined;
  #stopped = false;
  #drained: PromiseWithResolvers<void> | undefined;
  /** Resolved when the write in flight (or the next one) ends; made when asked for. */
  #writeEnded: PromiseWithResolvers<void> | undefined;

  constructor(writer: ChunkWriter, writeFailure: WriteFailureListener) {
    this.#writer = writer;
    this.#writeFailure = writeFailure;
  }

  /**
   * Bytes owed to the connection: the log's bytes past what was written, and private
   * frames queued or being written.
   */
  get pendingBytes(): number {
    let lag = 0;
    for (const following of this.#follows) lag += following.log.head - following.written;
    return lag + this.#pendingPrivateBytes + this.#writingPrivateBytes;
  }

  /** The oldest position of `log` not yet written to the connection; undefined when not following it. */
  unwritten(log: BroadcastLog): number | undefined {
    return this.#following(log)?.written;
  }

  /** The log's frames this connection has been given so far. */
  get logFrames(): number {
    return this.#logFramesTaken;
  }

  /** When the write in flight began (performance.now()), or undefined when none is. */
  get writeStartedAt(): number | undefined {
    return this.#writeStartedAt;
  }

  /** True when nothing taken waits and no write is in flight. */
  get isDrained(): boolean {
    return this.#state !== "writing" && this.#pending.length === 0;
  }

  /** From now on the connection gets `log`'s frames, from its head: older ones are not for it. */
  follow(log: BroadcastLog): void {
    if (this.#stopped || this.#following(log) !== undefined) return;
    const head = log.head;
    this.#follows.push({
      log,
      framesSeen: log.framesAppended,
      taken: head,
      written: head,
      writingTo: head,
    });
  }

  /**
   * Stops following `log`, or every log when none is given. What they held up to now is
   * still written, before anything queued later, unless `dropUnread`.
   */
  unfollow(log?: BroadcastLog, dropUnread = false): void {
    const follows = this.#follows;
    for (let index = follows.length - 1; index >= 0; index--) {
      const following = follows[index];
      if (log !== undefined && following.log !== log) continue;
      if (!dropUnread) {
        this.#take(following);
        // Its frames not yet written are the queue's own from now on, and counted as its
        // private frames are: waiting, or in the write in flight.
        const writing = this.#state === "writing" ? following.writingTo : following.written;
        this.#writingPrivateBytes += writing - following.written;
        this.#pendingPrivateBytes += following.log.head - writing;
      }
      follows.splice(index, 1);
    }
    this.#writeSoon();
  }

  /** Queues one frame payload, behind every log frame this connection is due by now. */
  push(payload: Uint8Array): void {
    if (this.#stopped) return;
    this.#takeLog();
    const framed = allocateBytes(varint.size(payload.length) + payload.length);
    framed.set(payload, varint.write(framed, 0, payload.length));
    this.#pending.push(framed);
    this.#pendingPrivateBytes += framed.length;
    this.#writeSoon();
  }

  /** Writes what the logs gained since this connection's last write, unless a write is in flight. */
  writeLog(): void {
    if (this.#stopped || this.#follows.length === 0) return;
    if (this.#state === "writing") {
      this.#passMissed = true;
      return;
    }
    if (this.#state === "waiting" || !this.#logsHaveMore()) return;
    this.#state = "waiting";
    SLOTS.request(this);
  }

  /** Resolves once everything queued so far is written, or the queue is stopped. */
  drained(): Promise<void> {
    if (this.isDrained || this.#stopped) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /** Resolves when the write in flight ends (or the next, if none is), or the queue stops. */
  writeEnded(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#writeEnded ??= Promise.withResolvers<void>();
    return this.#writeEnded.promise;
  }

  /** Drops what is queued, the log's unwritten frames included; a write in flight goes on. */
  clear(): void {
    this.#pending = [];
    this.#pendingPrivateBytes = 0;
    for (const following of this.#follows) {
      following.taken = following.written = following.log.head;
      following.framesSeen = following.log.framesAppended;
    }
  }

  /** Drops what is queued and accepts nothing more. */
  stop(): void {
    this.#stopped = true;
    this.#follows = [];
    this.#pending = [];
    this.#pendingPrivateBytes = 0;
    this.#resolveDrained();
    this.#resolveWriteEnded();
  }

  /** For WriteSlots: this queue's turn to write has come. */
  slotGranted(): void {
    this.#takeLog();
    if (this.#stopped || this.#pending.length === 0) {
      this.#state = "idle";
      SLOTS.release(this);
      this.#resolveDrained();
      return;
    }
    const batch = this.#pending;
    this.#pending = this.#spare;
    this.#spare = batch;
    for (const following of this.#follows) following.writingTo = following.taken;
    this.#writingPrivateBytes = this.#pendingPrivateBytes;
    this.#pendingPrivateBytes = 0;
    this.#state = "writing";
    this.#writeStartedAt = performance.now();
    let written: Promise<void>;
    try {
      written = this.#writer.write(batch);
    } catch (error) {
      written = Promise.reject(error);
    }
    batch.length = 0;
    written.then(this.#afterWrite, this.#afterFailedWrite);
  }

  /** Writes what is pending once the current task is done, so that all it queues shares one write. */
  #writeSoon(): void {
    if (this.#state !== "idle" || this.#pending.length === 0) return;
    this.#state = "waiting";
    queueMicrotask(() => SLOTS.request(this));
  }

  /**
   * Moves the logs' bytes past what was taken to #pending, so that what is queued next goes
   * after them. Several logs with frames to take: their frames go in the order they were
   * appended, across the logs, as a member of two rooms saw them happen.
   */
  #takeLog(): void {
    let behind: Following | undefined;
    let several = false;
    for (const following of this.#follows) {
      if (following.taken === following.log.head) continue;
      if (behind !== undefined) several = true;
      behind = following;
    }
    if (behind === undefined) return;
    if (!several) return this.#take(behind);
    const taking = this.#follows.filter((following) => following.taken !== following.log.head);
    BroadcastLog.mergedViews(
      taking.map((following) => ({ log: following.log, from: following.taken })),
      this.#pending,
    );
    for (const following of taking) this.#tookAll(following);
  }

  #take(following: Following): void {
    const log = following.log;
    if (following.taken === log.head) return;
    log.views(following.taken, this.#pending);
    this.#tookAll(following);
  }

  #tookAll(following: Following): void {
    const log = following.log;
    following.taken = log.head;
    this.#logFramesTaken += log.framesAppended - following.framesSeen;
    following.framesSeen = log.framesAppended;
  }

  #logsHaveMore(): boolean {
    for (const following of this.#follows) {
      if (following.taken !== following.log.head) return true;
    }
    return false;
  }

  #following(log: BroadcastLog): Following | undefined {
    for (const following of this.#follows) if (following.log === log) return following;
    return undefined;
  }

  readonly #afterWrite = (): void => {
    SLOTS.release(this);
    this.#resolveWriteEnded();
    // A log followed during the write keeps its newer position.
    for (const following of this.#follows) {
      if (following.writingTo > following.written) following.written = following.writingTo;
    }
    this.#writingPrivateBytes = 0;
    this.#writeStartedAt = undefined;
    this.#state = "idle";
    if (this.#stopped) return this.#resolveDrained();
    // Private frames queued meanwhile go on at once, and so do the log's when a pass came
    // meanwhile; otherwise they wait for the next pass, so that under load many broadcasts
    // share each write.
    if (this.#pending.length > 0 || this.#passMissed) {
      this.#passMissed = false;
      this.#state = "waiting";
      SLOTS.request(this);
      return;
    }
    this.#resolveDrained();
    for (const following of this.#follows) {
      if (following.taken < following.log.head) following.log.want();
    }
  };

  readonly #afterFailedWrite = (error: unknown): void => {
    SLOTS.release(this);
    this.#writingPrivateBytes = 0;
    this.#writeStartedAt = undefined;
    this.#state = "idle";
    this.stop();
    this.#writeFailure.writeFailed(error);
  };

  #resolveWriteEnded(): void {
    this.#writeEnded?.resolve();
    this.#writeEnded = undefined;
  }

  #resolveDrained(): void {
    if (!this.isDrained && !this.#stopped) return;
    this.#drained?.resolve();
    this.#drained = undefined;
  }
}
