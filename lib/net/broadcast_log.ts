import { varint } from "../protocol/varint.ts";

/**
 * Bytes per segment, at most. A segment is written by many sessions at once, each a
 * subarray of it; large enough that a pass's frames rarely straddle two, small beside
 * the log's span.
 */
const SEGMENT_BYTES = 256 * 1024;

/**
 * A quiet log's first segment (see BroadcastLog's constructor): every room has a log, and
 * most rooms are quiet. Each new segment doubles, up to SEGMENT_BYTES, so a busy log soon
 * takes the large ones.
 */
export const SMALL_SEGMENT_BYTES = 4 * 1024;

interface Segment {
  /** The log position of bytes[0]. */
  readonly start: number;
  readonly bytes: Uint8Array;
  /** Bytes filled so far; positions start .. start + used are in this segment. */
  used: number;
  /** Where each frame ends in `bytes`, and its number in the logs' AppendOrder. */
  readonly ends: number[];
  readonly order: number[];
}

/**
 * Numbers the appends of the logs that share it (a server's rooms), so that a reader of
 * several takes their frames in the order they were appended (see mergedViews).
 */
export class AppendOrder {
  #last = 0;

  next(): number {
    return ++this.#last;
  }
}

/** Where a reader stands in a log: a segment, and the frame it reads next. */
interface Cursor {
  segments: readonly Segment[];
  segment: number;
  frame: number;
}

/**
 * One fan-out group's broadcasts, framed once (varint length, then payload) into an
 * append-only run of segments. Readers keep their own position in it: a reader behind
 * by many frames writes one subarray of a segment, never a copy of its own. A frame
 * never straddles two segments, so every view holds whole frames.
 *
 * Positions are byte offsets from the log's beginning: they only grow, and stay exact
 * in a number for 2^53 bytes (a year at 280 MB/s).
 */
export class BroadcastLog {
  /** Oldest first; the last is the one being filled. */
  #segments: Segment[] = [];
  #head = 0;
  #framesAppended = 0;
  #nextSegmentBytes: number;
  readonly #order: AppendOrder;
  /** Asks the log's owner for a pass: a reader finished a write and the log has more for it. */
  readonly #wanted: () => void;

  /**
   * `firstSegmentBytes`: SMALL_SEGMENT_BYTES for a log that may stay quiet. `order`: shared
   * by the logs one reader may follow together.
   */
  constructor(
    wanted: () => void = () => {},
    firstSegmentBytes = SEGMENT_BYTES,
    order = new AppendOrder(),
  ) {
    this.#wanted = wanted;
    this.#nextSegmentBytes = firstSegmentBytes;
    this.#order = order;
  }

  /** The position after the last frame appended. */
  get head(): number {
    return this.#head;
  }

  /** The oldest position still held; views before it are no longer available. */
  get tail(): number {
    return this.#segments.length === 0 ? this.#head : this.#segments[0].start;
  }

  /** Bytes held: whole segments, from the one the oldest reader is in to the one being filled. */
  get retainedBytes(): number {
    let bytes = 0;
    for (const segment of this.#segments) bytes += segment.bytes.length;
    return bytes;
  }

  get framesAppended(): number {
    return this.#framesAppended;
  }

  /** Frames `payload` onto the end of the log. */
  append(payload: Uint8Array): void {
    const size = varint.size(payload.length) + payload.length;
    let segment = this.#segments.at(-1);
    if (segment === undefined || segment.used + size > segment.bytes.length) {
      segment = {
        start: this.#head,
        bytes: new Uint8Array(Math.max(this.#nextSegmentBytes, size)),
        used: 0,
        ends: [],
        order: [],
      };
      this.#nextSegmentBytes = Math.min(this.#nextSegmentBytes * 2, SEGMENT_BYTES);
      this.#segments.push(segment);
    }
    const offset = varint.write(segment.bytes, segment.used, payload.length);
    segment.bytes.set(payload, offset);
    segment.used += size;
    segment.ends.push(segment.used);
    segment.order.push(this.#order.next());
    this.#head += size;
    this.#framesAppended++;
  }

  /**
   * The bytes from `from` to the head, as views into the segments (one, unless they
   * straddle segments), pushed onto `views`. Throws when `from` was released or lies past
   * the head.
   */
  views(from: number, views: Uint8Array[] = []): Uint8Array[] {
    if (from < this.tail || from > this.#head) {
      throw new RangeError(
        `Cannot read the broadcast log from ${from}: it holds ${this.tail} to ${this.#head}`,
      );
    }
    const segments = this.#segments;
    // Readers are nearly always in the last segment: search from the end.
    let index = Math.max(segments.length - 1, 0);
    while (index > 0 && segments[index].start > from) index--;
    for (; index < segments.length; index++) {
      const segment = segments[index];
      const begin = Math.max(from - segment.start, 0);
      if (begin < segment.used) views.push(segment.bytes.subarray(begin, segment.used));
    }
    return views;
  }

  /**
   * The frames of several logs (sharing one AppendOrder), each from `from` to its head,
   * as views pushed onto `views` in the order they were appended: a run of one log's
   * frames with none of the others' between them is one view. Each `from` is a position a
   * reader stands at (a frame's start), not released.
   */
  static mergedViews(readers: { log: BroadcastLog; from: number }[], views: Uint8Array[]): void {
    const cursors: Cursor[] = [];
    for (const { log, from } of readers) {
      const cursor = log.#cursor(from);
      if (cursor !== undefined) cursors.push(cursor);
    }
    while (cursors.length > 0) {
      // The reader whose next frame came first, and the first frame of any other after it.
      let first = 0;
      let second = Infinity;
      for (let index = 1; index < cursors.length; index++) {
        const order = nextOrder(cursors[index]);
        const firstOrder = nextOrder(cursors[first]);
        if (order < firstOrder) {
          second = firstOrder;
          first = index;
        } else if (order < second) second = order;
      }
      const cursor = cursors[first];
      const segment = cursor.segments[cursor.segment];
      const begin = cursor.frame === 0 ? 0 : segment.ends[cursor.frame - 1];
      while (cursor.frame < segment.ends.length && segment.order[cursor.frame] < second) {
        cursor.frame++;
      }
      views.push(segment.bytes.subarray(begin, segment.ends[cursor.frame - 1]));
      if (cursor.frame === segment.ends.length) {
        cursor.segment++;
        cursor.frame = 0;
        if (cursor.segment === cursor.segments.length) cursors.splice(first, 1);
      }
    }
  }

  /** A reader at `from`; undefined when it has read everything. */
  #cursor(from: number): Cursor | undefined {
    if (from === this.#head) return undefined;
    if (from < this.tail || from > this.#head) {
      throw new RangeError(
        `Cannot read the broadcast log from ${from}: it holds ${this.tail} to ${this.#head}`,
      );
    }
    const segments = this.#segments;
    let index = segments.length - 1;
    while (index > 0 && segments[index].start > from) index--;
    let segment = segments[index];
    if (from - segment.start === segment.used) segment = segments[++index];
    const offset = from - segment.start;
    // The frame that starts at `offset`: the one after the frame ending there.
    let low = 0;
    let high = segment.ends.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (segment.ends[middle] <= offset) low = middle + 1;
      else high = middle;
    }
    return { segments, segment: index, frame: low };
  }

  /**
   * Lets go of the segments wholly before `position`, which no reader needs any more.
   * Views already handed out stay valid: they keep their segment alive until dropped.
   */
  release(position: number): void {
    const segments = this.#segments;
    let drop = 0;
    // The last segment is kept even when read to its end: the next frames go into it.
    while (
      drop < segments.length - 1 && segments[drop].start + segments[drop].used <= position
    ) drop++;
    if (drop > 0) segments.splice(0, drop);
  }

  /** For readers: one has finished a write and wants what the log holds past its position. */
  want(): void {
    this.#wanted();
  }
}

function nextOrder(cursor: Cursor): number {
  return cursor.segments[cursor.segment].order[cursor.frame];
}
