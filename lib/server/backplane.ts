/** A user as the whole cluster sees them. */
export interface ClusterUser {
  sessionId: bigint;
  nickname: string;
  /** The number of the server the user is connected to; 0 when the server runs alone. */
  node: number;
  /** Milliseconds since the epoch, for `who`'s order of arrival across servers. */
  joinedAt: number;
  /** The rooms the user is in (lower case); undefined means only "#lobby", where everyone starts. */
  rooms?: string[];
}

/** What one server's hub tells the others'. */
export type HubEvent =
  /**
   * An encoded ServerMessage, relayed byte for byte: nobody re-encodes it. `room`
   * undefined is "#lobby"; eventId 0n or undefined: not numbered.
   */
  | { kind: "chat"; payload: Uint8Array; room?: string; eventId?: bigint }
  /**
   * A private message for one session, on server `node` (undefined when received). It is
   * never stored on the way: Redis carries it by PUBLISH.
   */
  | { kind: "private"; sessionId: bigint; payload: Uint8Array; node?: number }
  | { kind: "room_joined"; sessionId: bigint; room: string }
  | { kind: "room_left"; sessionId: bigint; room: string }
  | { kind: "joined"; user: ClusterUser }
  | { kind: "left"; sessionId: bigint }
  | { kind: "renamed"; sessionId: bigint; nickname: string };

/** How a backplane reaches the hub of its own server. */
export interface BackplaneListener {
  /** An event accepted by another server, in the order the backplane carries them. */
  remote(event: HubEvent): void;
  /** Every user of one server, as it stands: replaces what the hub knew of that server. */
  serverUsers(node: number, users: ClusterUser[]): void;
  /** A server stopped answering; its users leave. */
  serverGone(node: number): void;
  /** Another server won the nickname of a local session while this one was cut off. */
  nicknameLost(sessionId: bigint): void;
  /** The users connected to this server, to register again after an outage. */
  localUsers(): ClusterUser[];
  /** One user connected to this server, or undefined when it is not (or no longer) here. */
  localUser(sessionId: bigint): ClusterUser | undefined;
}

/** The answer to a nickname claim. */
export type NicknameClaim = "claimed" | "taken" | "unavailable";

/**
 * Carries hub events between server processes. The hub delivers its own events to
 * its own sessions at once and hands them to the backplane for everyone else's.
 */
export interface Backplane extends AsyncDisposable {
  /** This server's number, folded into its session ids; 0 when it runs alone. */
  readonly node: number;
  /** Starts delivering other servers' events to `listener`. */
  start(listener: BackplaneListener): void;
  publish(event: HubEvent): void;
  /**
   * Claims a nickname key for a local user cluster-wide, releasing `previousKey`.
   * The hub has already checked the users it knows of.
   */
  claimNickname(user: ClusterUser, key: string, previousKey: string | undefined):
    | NicknameClaim
    | Promise<NicknameClaim>;
  /** Counters for the log and /metrics. */
  stats(): BackplaneStats;
}

export interface BackplaneStats {
  /** "local", or whether the Redis backplane is connected now. */
  state: "local" | "connected" | "disconnected";
  eventsPublished: number;
  eventsReceived: number;
  /** Events this server could not hand to Redis during an outage, past the outbox's room. */
  eventsDropped: number;
  /** Times the connection to Redis was lost. */
  outages: number;
}
