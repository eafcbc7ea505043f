/** What a fuzz run did, for its last line. */
export interface Stats {
  /** Cases started, by kind. */
  cases: Map<string, number>;
  connections: number;
  /** Frames (protobuf payloads) written. */
  frames: number;
  bytes: number;
  modelled: number;
  fuzzed: number;
  /** Errors received, by code name. */
  errors: Map<string, number>;
  ownBroadcasts: number;
  /** WebSocket pings answered, and the close codes the server sent. */
  websocketPongs: number;
  closeCodes: Map<string, number>;
}

export function newStats(): Stats {
  return {
    cases: new Map(),
    connections: 0,
    frames: 0,
    bytes: 0,
    modelled: 0,
    fuzzed: 0,
    errors: new Map(),
    ownBroadcasts: 0,
    websocketPongs: 0,
    closeCodes: new Map(),
  };
}

/** Adds one to `key`'s count. */
export function count(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
