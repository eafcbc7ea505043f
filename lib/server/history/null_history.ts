import type { HistoryPage, HistoryStats, HistoryStore, MissedEvents } from "./history_store.ts";

/** History turned off (--history-size 0): nothing is kept or numbered. */
export class NullHistory implements HistoryStore {
  append(): bigint {
    return 0n;
  }

  before(): Promise<HistoryPage> {
    return Promise.resolve({ events: [], more: false });
  }

  after(): Promise<MissedEvents> {
    return Promise.resolve({ events: [], more: false, missed: 0n, lastId: 0n });
  }

  rooms(): Promise<string[]> {
    return Promise.resolve([]);
  }

  stats(): HistoryStats {
    return { state: "off", appended: 0, lost: 0, failures: 0 };
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
