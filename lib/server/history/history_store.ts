/** One message kept in a room's history. */
export interface StoredEvent {
  /** Increases by one from message to message within the room. */
  eventId: bigint;
  /**
   * The ChatEvent as encoded, without its event_id: lib/protocol/chat_event_writer.ts
   * (chatEventFrame) puts the id and the history flag back when it is sent.
   */
  chatEvent: Uint8Array;
}

/** Older messages of a room, oldest first. */
export interface HistoryPage {
  events: StoredEvent[];
  /** True when the room keeps messages older than the first of `events`. */
  more: boolean;
}

/** What a reconnecting client missed in a room. */
export interface MissedEvents extends HistoryPage {
  /** Messages after the client's last event id that are no longer kept (or never were). */
  missed: bigint;
  /** The room's newest id: below the client's last one, the room's numbering began again. */
  lastId: bigint;
}

export interface HistoryStats {
  /** "off" when history is turned off (--history-size 0). */
  state: "ok" | "failing" | "off";
  /** Messages handed to the store to keep. */
  appended: number;
  /** Messages that could not be kept (storage failing). */
  lost: number;
  /** Times storage failed (a write, a read, a connection); logged once per outage. */
  failures: number;
}

/** Thrown by reads while storage fails: the client is told history is unavailable. */
export class HistoryUnavailableError extends Error {
  override name = "HistoryUnavailableError";
}

/**
 * Where room history lives: SQLite for a server alone, Redis for a cluster. Appends must
 * cost the broadcast path little: they are batched, and a failing store never throws into
 * it (it counts, logs once, and answers reads with HistoryUnavailableError).
 */
export interface HistoryStore extends AsyncDisposable {
  /**
   * Gives the room's next message its event id and keeps it. Synchronous when ids are
   * given out by this process; a promise when the cluster gives them out. 0n when the
   * message is not kept (history off, or storage out of reach when ids come from it).
   * `floor`: the highest id this server has seen in the room; ids go on above it even
   * when the store has forgotten the room (a Redis that restarted empty).
   */
  append(
    room: string,
    chatEvent: Uint8Array,
    sentAtUnixMs: number,
    floor?: bigint,
  ): bigint | Promise<bigint>;
  /**
   * The last id given out in a room, 0n for none. Only for stores whose ids come from the
   * cluster: a server that starts to follow a room learns where its order begins, so that
   * a message numbered after another cannot pass it for the first one.
   */
  lastEventId?(room: string): Promise<bigint>;
  /**
   * Tells the store which rooms somebody is in now, for stores that drop the history of
   * rooms past a cap: a room in use keeps its history and its ids.
   */
  retain?(isLive: (room: string) => boolean): void;
  /** Up to `count` messages with ids below `beforeId` (0n: the newest), oldest first. */
  before(room: string, beforeId: bigint, count: number): Promise<HistoryPage>;
  /** Every kept message with an id above `afterId`, oldest first, at most `limit` (the newest). */
  after(room: string, afterId: bigint, limit: number): Promise<MissedEvents>;
  /** Rooms that keep history, the most recently active first, at most `limit`. */
  rooms(limit: number): Promise<string[]>;
  stats(): HistoryStats;
}
