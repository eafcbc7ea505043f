import type { ServerStats } from "./server_counters.ts";

/** The HTTP side's figures (see HttpGateway), when it runs. */
export interface HttpMetrics {
  connections: number;
  refused: number;
}

/**
 * The counters in Prometheus' text exposition format (version 0.0.4), as served
 * at /metrics. Names follow Prometheus' conventions: `_total` for counters, base units.
 */
export function formatMetrics(stats: ServerStats, http?: HttpMetrics): string {
  const lines: string[] = [];
  const metric = (
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: [labels: Record<string, string>, value: number][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const pairs = Object.entries(labels).map(([key, label]) => `${key}="${escapeLabel(label)}"`);
      lines.push(`${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${value}`);
    }
  };
  const single = (value: number): [Record<string, string>, number][] => [[{}, value]];

  metric(
    "chat_sessions",
    "gauge",
    "Sessions connected now, by transport.",
    Object.entries(stats.sessionsByTransport).map(([transport, count]) => [{ transport }, count]),
  );
  metric(
    "chat_connections",
    "gauge",
    "Connections counted toward --max-connections: sessions, and ended ones' sockets still closing.",
    single(stats.connections),
  );
  metric(
    "chat_http_connections",
    "gauge",
    "Connections to the HTTP port not upgraded to WebSocket, counted toward --max-http-connections.",
    http === undefined ? [] : single(http.connections),
  );
  metric(
    "chat_http_connections_refused_total",
    "counter",
    "HTTP connections turned away: --max-http-connections reached, or too many from one address.",
    http === undefined ? [] : single(http.refused),
  );
  metric(
    "chat_users_online",
    "gauge",
    "Users online in the whole cluster; the same as chat_sessions when the server runs alone.",
    single(stats.online),
  );
  metric(
    "chat_backplane_connected",
    "gauge",
    "1 while the Redis backplane is connected, 0 while it is not; absent when the server runs alone.",
    stats.backplane.state === "local" ? [] : single(stats.backplane.state === "connected" ? 1 : 0),
  );
  metric(
    "chat_backplane_events_total",
    "counter",
    "Events carried by the Redis backplane: published, received, or dropped during an outage.",
    stats.backplane.state === "local" ? [] : [
      [{ direction: "published" }, stats.backplane.eventsPublished],
      [{ direction: "received" }, stats.backplane.eventsReceived],
      [{ direction: "dropped" }, stats.backplane.eventsDropped],
    ],
  );
  metric(
    "chat_backplane_outages_total",
    "counter",
    "Times the connection to Redis was lost.",
    stats.backplane.state === "local" ? [] : single(stats.backplane.outages),
  );
  metric(
    "chat_fanout_log_bytes",
    "gauge",
    "Bytes the broadcast log holds: from the oldest position a session has not been written.",
    single(stats.fanout.logBytes),
  );
  metric(
    "chat_fanout_owed_bytes",
    "gauge",
    "Broadcast bytes not yet written to the sessions that are reading, summed over them.",
    single(stats.fanout.owedBytes),
  );
  metric(
    "chat_fanout_stalled_sessions",
    "gauge",
    "Sessions whose writes made no progress for a while: they do not hold reads back.",
    single(stats.fanout.stalledMembers),
  );
  metric(
    "chat_fanout_read_holds_total",
    "counter",
    "Times the server stopped reading from clients because too much was owed.",
    single(stats.fanout.readHolds),
  );
  metric(
    "chat_rooms",
    "gauge",
    "Rooms this server holds, the lobby included.",
    single(stats.fanout.rooms),
  );
  metric(
    "chat_history_up",
    "gauge",
    "1 while room history is kept, 0 while its storage fails; absent when history is off.",
    stats.history.state === "off" ? [] : single(stats.history.state === "ok" ? 1 : 0),
  );
  metric(
    "chat_history_messages_total",
    "counter",
    "Room messages handed to history, and of those, the ones lost because storage failed.",
    stats.history.state === "off" ? [] : [
      [{ outcome: "appended" }, stats.history.appended],
      [{ outcome: "lost" }, stats.history.lost],
    ],
  );
  metric(
    "chat_history_failures_total",
    "counter",
    "Times history storage failed: a write, a read, or the connection to Redis.",
    stats.history.state === "off" ? [] : single(stats.history.failures),
  );
  metric(
    "chat_sessions_opened_total",
    "counter",
    "Sessions ever opened.",
    single(stats.sessionsOpened),
  );
  metric(
    "chat_connections_refused_total",
    "counter",
    "Connections turned away: server full, or too many from one address.",
    single(stats.connectionsRefused),
  );
  metric(
    "chat_frames_received_total",
    "counter",
    "Frames received from clients.",
    single(stats.framesIn),
  );
  metric("chat_frames_sent_total", "counter", "Frames queued to clients.", single(stats.framesOut));
  metric(
    "chat_bytes_received_total",
    "counter",
    "Bytes received from clients.",
    single(stats.bytesIn),
  );
  metric("chat_bytes_sent_total", "counter", "Bytes written to clients.", single(stats.bytesOut));
  metric("chat_broadcasts_total", "counter", "Broadcasts accepted.", single(stats.broadcasts));
  metric(
    "chat_errors_sent_total",
    "counter",
    "Error replies sent to clients, by code.",
    Object.entries(stats.errorsSent).map(([code, count]) => [{ code }, count]),
  );
  metric(
    "chat_disconnects_total",
    "counter",
    "Sessions closed, by reason.",
    Object.entries(stats.disconnects).map(([reason, count]) => [{ reason }, count]),
  );
  metric(
    "chat_slow_consumer_disconnects_total",
    "counter",
    "Sessions cut because they did not read fast enough.",
    single(stats.disconnects["slow consumer"] ?? 0),
  );
  metric(
    "chat_rate_limited_total",
    "counter",
    "Chat messages refused for being over the rate limit.",
    single(stats.errorsSent["RATE_LIMITED"] ?? 0),
  );
  metric(
    "chat_event_loop_lag_seconds",
    "gauge",
    "How late the server's event loop ran its last timer.",
    single(stats.eventLoopLagMs / 1000),
  );
  metric(
    "process_resident_memory_bytes",
    "gauge",
    "Resident memory of the server process.",
    single(stats.rssBytes),
  );
  return lines.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}
