import type { BackplaneStats } from "./backplane.ts";
import type { FanoutStats } from "./hub.ts";
import type { HistoryStats } from "./history/history_store.ts";
import type { LogFields } from "./logger.ts";

/** What the server has done so far: read by tests, the log's stats lines and, later, /metrics. */
export interface ServerStats {
  /** Sessions connected now. */
  sessions: number;
  /**
   * Connections counted toward --max-connections now: the sessions, and the sockets of
   * ended ones still closing (a WebSocket in its close handshake).
   */
  connections: number;
  /** Users online in the whole cluster; the same as sessions when the server runs alone. */
  online: number;
  /** The cluster link: its state, and the events it carried. */
  backplane: BackplaneStats;
  fanout: FanoutStats;
  /** Room history: whether it is kept now, and what could not be. */
  history: HistoryStats;
  /** Sessions connected now, by transport: tcp, websocket. */
  sessionsByTransport: Record<string, number>;
  /** Sessions ever opened. */
  sessionsOpened: number;
  /** Connections turned away (server full, too many from one address). */
  connectionsRefused: number;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Broadcasts accepted (each delivered to every session). */
  broadcasts: number;
  /** Error frames sent in reply to requests, by ErrorCode name: MALFORMED, RATE_LIMITED... */
  errorsSent: Record<string, number>;
  /** Closed sessions by why they closed: "closed by client", "slow consumer", "idle timeout"... */
  disconnects: Record<string, number>;
  /** The server process's resident memory. */
  rssBytes: number;
  /** How late the event loop ran a timer, lately: the server's own busyness. */
  eventLoopLagMs: number;
}

/**
 * Running totals. Per-session figures are added when a session ends; the live
 * sessions' share is added when a snapshot is taken, so counting costs nothing per frame.
 */
export class ServerCounters {
  sessionsOpened = 0;
  connectionsRefused = 0;
  broadcasts = 0;
  readonly #closed = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 };
  readonly #errorsSent: Record<string, number> = {};
  readonly #disconnects: Record<string, number> = {};

  errorSent(code: string): void {
    this.#errorsSent[code] = (this.#errorsSent[code] ?? 0) + 1;
  }

  /** Adds a finished session's totals. `reason` is grouped by what comes before its first colon. */
  sessionClosed(reason: string, totals: SessionTotals): void {
    const kind = reason.split(":")[0];
    this.#disconnects[kind] = (this.#disconnects[kind] ?? 0) + 1;
    this.#add(this.#closed, totals);
  }

  snapshot(
    live: SessionTotals[],
    sessionsByTransport: Record<string, number>,
    eventLoopLagMs: number,
    connections: number,
    online: number,
    backplane: BackplaneStats,
    fanout: FanoutStats,
    history: HistoryStats,
  ): ServerStats {
    const totals = { ...this.#closed };
    for (const session of live) this.#add(totals, session);
    return {
      sessions: live.length,
      connections,
      online,
      backplane,
      fanout,
      history,
      sessionsByTransport,
      sessionsOpened: this.sessionsOpened,
      connectionsRefused: this.connectionsRefused,
      broadcasts: this.broadcasts,
      eventLoopLagMs,
      ...totals,
      errorsSent: { ...this.#errorsSent },
      disconnects: { ...this.#disconnects },
      rssBytes: Deno.memoryUsage().rss,
    };
  }

  #add(into: SessionTotals, from: SessionTotals): void {
    into.framesIn += from.framesIn;
    into.framesOut += from.framesOut;
    into.bytesIn += from.bytesIn;
    into.bytesOut += from.bytesOut;
  }
}

export interface SessionTotals {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** A stats snapshot as flat log fields: `errors_sent.RATE_LIMITED=3`. */
export function statsFields(stats: ServerStats): LogFields {
  const fields: LogFields = {
    sessions: stats.sessions,
    connections: stats.connections,
    online: stats.online,
    backplane: stats.backplane.state,
    backplane_events_published: stats.backplane.eventsPublished,
    backplane_events_received: stats.backplane.eventsReceived,
    backplane_events_dropped: stats.backplane.eventsDropped,
    backplane_outages: stats.backplane.outages,
    fanout_log_bytes: stats.fanout.logBytes,
    fanout_owed_bytes: stats.fanout.owedBytes,
    fanout_stalled_sessions: stats.fanout.stalledMembers,
    fanout_read_holds: stats.fanout.readHolds,
    fanout_passes: stats.fanout.passes,
    rooms: stats.fanout.rooms,
    history: stats.history.state,
    history_appended: stats.history.appended,
    history_lost: stats.history.lost,
    history_failures: stats.history.failures,
    sessions_opened: stats.sessionsOpened,
    connections_refused: stats.connectionsRefused,
    frames_in: stats.framesIn,
    frames_out: stats.framesOut,
    bytes_in: stats.bytesIn,
    bytes_out: stats.bytesOut,
    broadcasts: stats.broadcasts,
    rss_bytes: stats.rssBytes,
    event_loop_lag_ms: stats.eventLoopLagMs,
  };
  for (const [kind, count] of Object.entries(stats.sessionsByTransport)) {
    fields[`sessions.${kind}`] = count;
  }
  for (const [code, count] of Object.entries(stats.errorsSent)) {
    fields[`errors_sent.${code}`] = count;
  }
  for (const [reason, count] of Object.entries(stats.disconnects)) {
    fields[`disconnects.${reason.replaceAll(" ", "_")}`] = count;
  }
  return fields;
}
