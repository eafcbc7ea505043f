import { countNoun } from "../../util/count_noun.ts";
import { Redis } from "ioredis";
import { Buffer } from "node:buffer";
import { guestNickname, nicknameKey } from "../../protocol/nickname.ts";
import { describeError } from "../../util/describe_error.ts";
import { waitAtMost } from "../../util/wait_at_most.ts";
import type {
  Backplane,
  BackplaneListener,
  BackplaneStats,
  ClusterUser,
  HubEvent,
  NicknameClaim,
} from "../backplane.ts";
import { BackplaneConnectError } from "../errors.ts";
import { AppliedEntries } from "./applied_entries.ts";
import { failFastOptions, redisAddress, redisFailure } from "./redis_connection.ts";
import type { Logger } from "../logger.ts";
import {
  CLAIM_NICKNAME,
  FORGET_USER,
  HEARTBEAT,
  LIVE_SERVERS,
  REGISTER,
  RELEASE_NICKNAME,
} from "./redis_scripts.ts";
import {
  decodeStreamEntry,
  encodeStreamEntry,
  parseUser,
  type StreamEntry,
  type UserJson,
  userJson,
} from "./stream_entry.ts";

export interface RedisBackplaneOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string;
  /** With `rediss://`: PEM CA certificates to trust besides the system's. @default undefined */
  ca?: string;
  /**
   * Seconds a server's users and nickname claims outlive its last heartbeat: how long
   * a crashed server's users linger in the others' `who`. Heartbeats go every third of it.
   * @default 10
   */
  expirySeconds: number;
  /** Events the stream keeps (MAXLEN ~) for servers that come back after a short cut. @default 100000 */
  streamLength: number;
  /** Chat events kept in memory while Redis is out of reach, and sent when it is back. @default 10000 */
  outboxEvents: number;
  /** The outbox's bound in bytes, whichever comes first. @default 16 MiB */
  outboxBytes: number;
}

export const DEFAULT_REDIS_BACKPLANE_OPTIONS: Readonly<Omit<RedisBackplaneOptions, "url">> = Object
  .freeze({
    expirySeconds: 10,
    streamLength: 100_000,
    outboxEvents: 10_000,
    outboxBytes: 16 * 1024 * 1024,
  });

const PREFIX = "chat:";
const EVENTS = `${PREFIX}events`;
/** Entries one XREAD returns at most; the rest come with the next. */
const READ_COUNT = 1000;
/** How long one XREAD waits for new entries before it asks again. */
const READ_BLOCK_MS = 1000;
/** How long a nickname claim may wait for Redis before the client hears UNAVAILABLE. */
const CLAIM_TIMEOUT_MS = 3000;
/** Server numbers go from 1 to this: session ids are `local * 1000 + number`. */
const MAX_NODE = 999;

interface ScriptCommands {
  liveServers(prefix: string, withUsers: "1" | "0"): Promise<[string, unknown[]]>;
  heartbeat(prefix: string, node: number, token: string, ms: number): Promise<number>;
  claimNickname(...args: string[]): Promise<number>;
  forgetUser(prefix: string, node: number, sessionId: string): Promise<number>;
  releaseNickname(prefix: string, key: string, holder: string): Promise<number>;
  register(prefix: string, node: number, token: string, ms: number): Promise<number>;
}

type ScriptedRedis = Redis & ScriptCommands;

/**
 * The Redis backplane. Every server appends the events its own sessions cause to one
 * Redis stream and reads everyone else's from it, so all servers see other servers'
 * events in one order, and a server that lost Redis for a moment replays what it
 * missed. Presence lives in per-server hashes that die with the server's heartbeat;
 * nicknames are claimed atomically by a Lua script.
 */
export class RedisBackplane implements Backplane {
  #node: number;
  readonly #options: RedisBackplaneOptions;
  readonly #logger: Logger;
  /** This process's token: tells its own entries and heartbeat from a namesake's. */
  readonly #token: string;
  /** Commands, pipelined automatically: XADD, scripts, heartbeats. */
  readonly #commands: ScriptedRedis;
  /** A connection of its own for the blocking XREAD. */
  readonly #reader: Redis;
  /**
   * A connection in subscriber mode, for private messages: they go by PUBLISH to the
   * recipient's server, never into the stream, so Redis keeps none of them.
   */
  readonly #subscriber: Redis;
  /** The server number whose private channel #subscriber listens to. */
  #subscribedNode: number | undefined;
  readonly #where: string;
  #listener: BackplaneListener | undefined;
  /** True once this server is registered and caught up, until the connection drops. */
  #connected = false;
  #syncing = false;
  #closed = false;
  #seq = 0;
  /** Bumped by every sync, so a read begun before it is not applied after it. */
  #epoch = 0;
  #lastId = "0-0";
  #runId = "";
  /** True once a sync went through: later ones catch up rather than start fresh. */
  #synced = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** Until then, servers missing from a Redis that came back empty are not taken for dead. */
  #graceUntil = 0;
  /** Chat events published while Redis was out of reach, oldest first. */
  #outbox: { seq: number; fields: (string | Buffer)[]; bytes: number }[] = [];
  #outboxBytes = 0;
  readonly #applied = new AppliedEntries();
  /** Servers whose users this one knows of. */
  readonly #servers = new Set<number>();
  readonly #stats = { eventsPublished: 0, eventsReceived: 0, eventsDropped: 0, outages: 0 };
  #wake = Promise.withResolvers<void>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #reading: Promise<void> | undefined;

  private constructor(
    node: number,
    token: string,
    commands: ScriptedRedis,
    reader: Redis,
    subscriber: Redis,
    options: RedisBackplaneOptions,
    logger: Logger,
  ) {
    this.#node = node;
    this.#token = token;
    this.#commands = commands;
    this.#reader = reader;
    this.#subscriber = subscriber;
    this.#options = options;
    this.#logger = logger;
    this.#where = redisAddress(options.url);
  }

  /**
   * Connects to Redis and takes a free server number. Throws BackplaneConnectError
   * when Redis cannot be reached: a server must not start believing it is in a
   * cluster it is not in.
   */
  static async connect(
    options: Partial<RedisBackplaneOptions> & { url: string },
    logger: Logger,
  ): Promise<RedisBackplane> {
    const settings: RedisBackplaneOptions = { ...DEFAULT_REDIS_BACKPLANE_OPTIONS, ...options };
    const where = redisAddress(settings.url);
    let connecting = true;
    // No commandTimeout: it costs a timer per command. Claims have their own bound, and a
    // Redis that stops answering is noticed by the heartbeat.
    const redisOptions = failFastOptions(() => connecting, undefined, settings.ca);
    const commands = new Redis(settings.url, redisOptions) as ScriptedRedis;
    const reader = commands.duplicate();
    const subscriber = commands.duplicate();
    const connections = [commands, reader, subscriber];
    // ioredis reports every failed attempt as an "error" event; the backplane logs outages
    // itself. At start-up the event holds the cause, which connect() hides behind "Connection is closed".
    let cause: unknown;
    for (const connection of connections) connection.on("error", (error) => cause ??= error);
    try {
      await Promise.all(connections.map((connection) => connection.connect()));
    } catch (error) {
      for (const connection of connections) connection.disconnect();
      cause ??= error;
      throw new BackplaneConnectError(
        `Cannot connect to Redis at ${where}: ${redisFailure(cause)}`,
        { cause },
      );
    }
    connecting = false;
    commands.defineCommand("liveServers", { numberOfKeys: 0, lua: LIVE_SERVERS });
    commands.defineCommand("heartbeat", { numberOfKeys: 0, lua: HEARTBEAT });
    commands.defineCommand("claimNickname", { numberOfKeys: 0, lua: CLAIM_NICKNAME });
    commands.defineCommand("forgetUser", { numberOfKeys: 0, lua: FORGET_USER });
    commands.defineCommand("releaseNickname", { numberOfKeys: 0, lua: RELEASE_NICKNAME });
    commands.defineCommand("register", { numberOfKeys: 0, lua: REGISTER });
    const token = crypto.randomUUID();
    try {
      const node = await takeServerNumber(commands, token, settings.expirySeconds * 1000, where);
      return new RedisBackplane(node, token, commands, reader, subscriber, settings, logger);
    } catch (error) {
      for (const connection of connections) connection.disconnect();
      throw error;
    }
  }

  get node(): number {
    return this.#node;
  }

  start(listener: BackplaneListener): void {
    this.#listener = listener;
    for (const connection of [this.#commands, this.#reader]) {
      connection.on("close", () => this.#lost("connection closed"));
      connection.on("ready", () => this.#sync());
    }
    this.#subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
      const event = decodePrivateMessage(message);
      if (event === undefined) return;
      this.#stats.eventsReceived++;
      listener.remote(event);
    });
    this.#heartbeat = setInterval(() => this.#beat(), this.#options.expirySeconds * 1000 / 3);
    this.#reading = this.#read();
    this.#sync();
  }

  publish(event: HubEvent): void {
    if (event.kind === "private") return this.#publishPrivate(event);
    const seq = ++this.#seq;
    const fields = encodeStreamEntry({ origin: this.#token, node: this.node, seq, body: event });
    if (!this.#connected) {
      // Presence is sent whole when the connection is back; chat has to wait in the outbox.
      if (event.kind === "chat") this.#stash(seq, fields, event.payload.byteLength);
      return;
    }
    // The per-server hash of users is what a server that joins later reads. It is written
    // before the event, so a snapshot taken between the two is corrected by the event,
    // which the others ignore when they know already.
    if (event.kind === "joined") this.#recordUser(event.user);
    else if (event.kind === "renamed") {
      this.#recordUser(this.#userOf(event.sessionId, event.nickname));
    } else if (event.kind === "room_joined" || event.kind === "room_left") {
      const user = this.#listener!.localUser(event.sessionId);
      if (user !== undefined) this.#recordUser(user);
    } else if (event.kind === "left") {
      this.#commands.forgetUser(PREFIX, this.node, String(event.sessionId)).catch(() => {});
    }
    this.#append(fields).then(
      () => this.#stats.eventsPublished++,
      (error) => {
        if (event.kind === "chat") this.#stash(seq, fields, event.payload.byteLength);
        // Refused (out of memory, no replicas...) or cut: start over, so that the outbox
        // goes out at the next sync.
        this.#restart(`a write failed: ${describeError(error)}`);
      },
    );
  }

  claimNickname(
    user: ClusterUser,
    key: string,
    previousKey: string,
  ): NicknameClaim | Promise<NicknameClaim> {
    return this.#connected ? this.#claim(user, key, previousKey) : "unavailable";
  }

  async #claim(user: ClusterUser, key: string, previousKey: string): Promise<NicknameClaim> {
    try {
      const claim = this.#commands.claimNickname(
        PREFIX,
        key,
        `${this.node}:${user.sessionId}`,
        String(this.node),
        String(user.sessionId),
        JSON.stringify(this.#record(user)),
        previousKey,
      );
      const claimed = await Promise.race([claim, delay(CLAIM_TIMEOUT_MS, "timeout" as const)]);
      if (claimed === "timeout") {
        // The client hears UNAVAILABLE and keeps its name, so a claim that lands late is undone.
        claim.then((late) => {
          if (late === 1) this.#undoClaim(user.sessionId, key, previousKey);
        }, () => {});
        return "unavailable";
      }
      return claimed === 1 ? "claimed" : "taken";
    } catch {
      return "unavailable";
    }
  }

  /** Gives the previous nickname back to a session whose claim of `key` came too late. */
  async #undoClaim(sessionId: bigint, key: string, previousKey: string): Promise<void> {
    const user = this.#listener!.localUser(sessionId);
    if (user === undefined) return;
    if (user.nickname === guestNickname(sessionId)) {
      // A guest name needs no claim: free the key, and record the user as a guest again.
      await this.#commands.releaseNickname(PREFIX, key, `${this.node}:${sessionId}`)
        .catch(() => {});
      this.#recordUser(user);
    } else if (await this.#claim(user, previousKey, key) === "taken") {
      this.#listener!.nicknameLost(sessionId);
    }
  }

  stats(): BackplaneStats {
    return { state: this.#connected ? "connected" : "disconnected", ...this.#stats };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#retry);
    this.#wake.resolve();
    if (this.#connected) {
      // Leave at once rather than after the expiry: the others drop this server's users now.
      await waitAtMost(
        this.#commands.multi()
          .del(`${PREFIX}node:${this.node}`, `${PREFIX}users:${this.node}`)
          .srem(`${PREFIX}nodes`, String(this.node))
          .exec()
          .catch(() => {}),
        2000,
      );
    }
    this.#connected = false;
    this.#commands.disconnect();
    this.#reader.disconnect();
    this.#subscriber.disconnect();
    await this.#reading;
  }

  /** A user as this server records it in Redis: with the key it claimed, unless a guest. */
  #record(user: ClusterUser): UserJson {
    const { s: _, ...record } = userJson(
      user,
      user.nickname === guestNickname(user.sessionId) ? undefined : nicknameKey(user.nickname),
    );
    return record;
  }

  #userOf(sessionId: bigint, nickname: string): ClusterUser {
    const user = this.#listener!.localUser(sessionId);
    return {
      sessionId,
      nickname,
      node: this.node,
      joinedAt: user?.joinedAt ?? Date.now(),
      rooms: user?.rooms,
    };
  }

  #recordUser(user: ClusterUser): void {
    this.#commands.hset(
      `${PREFIX}users:${this.node}`,
      String(user.sessionId),
      JSON.stringify(this.#record(user)),
    ).catch(() => {});
  }

  #append(fields: (string | Buffer)[]): Promise<unknown> {
    return this.#commands.xadd(
      EVENTS,
      "MAXLEN",
      "~",
      String(this.#options.streamLength),
      "*",
      ...fields,
    );
  }

  #stash(seq: number, fields: (string | Buffer)[], bytes: number): void {
    this.#outbox.push({ seq, fields, bytes });
    this.#outboxBytes += bytes;
    while (
      this.#outbox.length > this.#options.outboxEvents ||
      this.#outboxBytes > this.#options.outboxBytes
    ) {
      this.#outboxBytes -= this.#outbox.shift()!.bytes;
      this.#stats.eventsDropped++;
    }
  }

  /** Marks an outage and drops both connections, which reconnect and sync. */
  #restart(reason: string): void {
    if (this.#closed) return;
    this.#lost(reason);
    if (this.#commands.status === "ready") this.#commands.disconnect(true);
    if (this.#reader.status === "ready") this.#reader.disconnect(true);
  }

  /**
   * Sends a private message to the server of its recipient, by PUBLISH: nothing is kept,
   * and while Redis is out of reach it is not sent (the hub has told the sender).
   */
  #publishPrivate(event: Extract<HubEvent, { kind: "private" }>): void {
    if (!this.#connected || event.node === undefined) return;
    const message = Buffer.concat([
      Buffer.from(`${event.sessionId}\n`),
      // Copied: the payload may be a view into a shared slab (see stream_entry.ts).
      Buffer.from(event.payload.slice().buffer),
    ]);
    this.#commands.publish(privateChannel(event.node), message).then(
      () => this.#stats.eventsPublished++,
      () => this.#stats.eventsDropped++,
    );
  }

  /** Listens to this server's private channel, under its current number. */
  async #subscribe(): Promise<void> {
    const node = this.node;
    if (this.#subscribedNode === node) return;
    await this.#subscriber.subscribe(privateChannel(node));
    if (this.#subscribedNode !== undefined) {
      await this.#subscriber.unsubscribe(privateChannel(this.#subscribedNode));
    }
    this.#subscribedNode = node;
  }

  #lost(reason: string): void {
    if (this.#closed || !this.#connected) return;
    this.#connected = false;
    this.#stats.outages++;
    this.#logger.log(
      "warn",
      "redis_lost",
      `lost Redis at ${this.#where} (${reason}): serving local clients only; retrying`,
      { redis: this.#where, reason },
    );
  }

  /**
   * Registers this server and catches up: runs at start and each time both
   * connections are back. Nothing is published to Redis until it is done, so this
   * server's own entries stay in order behind its outbox.
   */
  async #sync(): Promise<void> {
    if (
      this.#syncing || this.#connected || this.#closed ||
      this.#commands.status !== "ready" || this.#reader.status !== "ready"
    ) return;
    this.#syncing = true;
    const listener = this.#listener!;
    const commands = this.#commands;
    try {
      const runId = /run_id:(\w+)/.exec(await commands.info("server"))?.[1] ?? "";
      // At start, the past is not replayed: the users as they stand are enough. After a
      // Redis restart, its new stream is all new to this server; after a cut, only the tail is.
      const firstSync = !this.#synced;
      if (!firstSync && runId !== this.#runId) {
        this.#lastId = "0-0";
        // The others register again as they notice; until then, missing is not dead.
        this.#graceUntil = Date.now() + this.#options.expirySeconds * 1000;
      }
      const expiryMs = this.#options.expirySeconds * 1000;
      if (await commands.register(PREFIX, this.node, this.#token, expiryMs) !== 1) {
        // Reaped while away, and the number drawn by a newer server: new sessions get a new
        // number, so their ids stay unique; the users here are registered under it too.
        const previous = this.node;
        this.#node = await takeServerNumber(commands, this.#token, expiryMs, this.#where);
        this.#logger.log(
          "error",
          "redis_number_taken",
          `server number ${previous} was taken by another server while this one was away; ` +
            `going on as server ${this.node}`,
          { previous_node: previous, node: this.node },
        );
      }
      // Nicknames held here must still be ours: another server may have taken one while
      // this one was away long enough to be reaped.
      const lost: bigint[] = [];
      for (const user of listener.localUsers()) {
        if (user.nickname === guestNickname(user.sessionId)) continue;
        const key = nicknameKey(user.nickname);
        if (await this.#claim(user, key, key) === "taken") lost.push(user.sessionId);
      }
      await this.#subscribe();
      const [lastId, live] = await commands.liveServers(PREFIX, "1");
      if (!firstSync) await this.#replay(lastId);
      this.#applyLiveServers(live as [string, string[]][]);
      this.#lastId = lastId;

      const users = listener.localUsers();
      const register = commands.multi();
      this.#outbox.sort((a, b) => a.seq - b.seq);
      for (const { fields } of this.#outbox) {
        register.xadd(EVENTS, "MAXLEN", "~", String(this.#options.streamLength), "*", ...fields);
      }
      const batch = this.#outbox;
      const sent = batch.length;
      this.#outbox = [];
      this.#outboxBytes = 0;
      register.del(`${PREFIX}users:${this.node}`);
      if (users.length > 0) {
        register.hset(
          `${PREFIX}users:${this.node}`,
          Object.fromEntries(
            users.map((user) => [String(user.sessionId), JSON.stringify(this.#record(user))]),
          ),
        );
      }
      register.sadd(`${PREFIX}nodes`, String(this.node));
      register.xadd(
        EVENTS,
        "MAXLEN",
        "~",
        String(this.#options.streamLength),
        "*",
        ...encodeStreamEntry({
          origin: this.#token,
          node: this.node,
          seq: ++this.#seq,
          body: { kind: "users", users },
        }),
      );
      const registered = register.exec();
      // From here on, new events queue behind the registration on the same connection.
      this.#connected = true;
      this.#epoch++;
      this.#wake.resolve();
      const failed = await registered.then(() => false, () => true);
      if (failed) {
        // Back to the front of the outbox, for the next sync; receivers skip any repeat.
        for (const { bytes } of batch) this.#outboxBytes += bytes;
        this.#outbox = [...batch, ...this.#outbox];
        throw new Error("the registration did not go through");
      }
      this.#stats.eventsPublished += sent;
      this.#runId = runId;
      this.#synced = true;
      this.#logger.log(
        "notice",
        "redis_connected",
        `joined the cluster at ${this.#where} as server ${this.node}: ${
          countNoun(this.#servers.size + 1, "server")
        }, ${
          countNoun(sent, "event")
        } sent from the outbox, ${this.#stats.eventsDropped} dropped so far`,
        { redis: this.#where, node: this.node, servers: this.#servers.size + 1, sent },
      );
      for (const sessionId of lost) listener.nicknameLost(sessionId);
    } catch (error) {
      this.#logger.log(
        "warn",
        "redis_sync_failed",
        `cannot sync with Redis at ${this.#where}: ${describeError(error)}; retrying`,
        { redis: this.#where },
      );
      this.#connected = false;
      if (!this.#closed) this.#retry = setTimeout(() => this.#sync(), 1000);
    } finally {
      this.#syncing = false;
    }
  }

  /** Applies the entries between the last one read and `untilId`, missed while away. */
  async #replay(untilId: string): Promise<void> {
    let from = this.#lastId;
    while (true) {
      const entries = await this.#commands.xrangeBuffer(
        EVENTS,
        `(${from}`,
        untilId,
        "COUNT",
        READ_COUNT,
      );
      for (const [id, fields] of entries) {
        from = id.toString();
        this.#apply(fields);
      }
      if (entries.length < READ_COUNT) return;
    }
  }

  #applyLiveServers(live: [string, string[]][]): void {
    const listener = this.#listener!;
    const alive = new Set<number>();
    for (const [nodeText, records] of live) {
      const node = Number(nodeText);
      alive.add(node);
      if (node === this.node) continue;
      const users: ClusterUser[] = [];
      for (let i = 0; i + 1 < records.length; i += 2) {
        users.push(parseUser(JSON.parse(records[i + 1]), node, records[i]));
      }
      this.#servers.add(node);
      listener.serverUsers(node, users);
    }
    this.#forgetServersNotIn(alive);
  }

  #forgetServersNotIn(alive: Set<number>): void {
    if (Date.now() < this.#graceUntil) return;
    for (const node of this.#servers) {
      if (alive.has(node)) continue;
      this.#servers.delete(node);
      this.#applied.forgetServer(node);
      this.#logger.log("info", "server_gone", `server ${node} left the cluster; its users left`, {
        node,
      });
      this.#listener!.serverGone(node);
    }
  }

  /** Renews this server's heartbeat and drops the servers whose heartbeat expired. */
  async #beat(): Promise<void> {
    if (!this.#connected) return;
    try {
      const renewed = await Promise.race([
        this.#commands.heartbeat(
          PREFIX,
          this.node,
          this.#token,
          this.#options.expirySeconds * 1000,
        ),
        // At least 2 s, so that a busy machine is not taken for a dead Redis.
        delay(Math.max(2000, this.#options.expirySeconds * 1000 / 3), "timeout" as const),
      ]);
      if (renewed === "timeout") {
        // Redis is there but does not answer (stopped, or a dead network path): start over.
        this.#restart("Redis stopped answering");
        return;
      }
      if (renewed !== 1) {
        this.#logger.log(
          "warn",
          "redis_registration_lost",
          renewed === 0
            ? `Redis at ${this.#where} forgot this server; registering again`
            : `another process took server number ${this.node}; joining again`,
        );
        this.#connected = false;
        this.#sync();
        return;
      }
      const [, live] = await this.#commands.liveServers(PREFIX, "0");
      this.#forgetServersNotIn(new Set((live as string[]).map(Number)));
    } catch (error) {
      if (this.#connected) this.#restart(`the heartbeat failed: ${describeError(error)}`);
    }
  }

  async #read(): Promise<void> {
    while (!this.#closed) {
      if (!this.#connected) {
        await this.#wake.promise;
        this.#wake = Promise.withResolvers();
        continue;
      }
      const epoch = this.#epoch;
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        reply = await this.#reader.xreadBuffer(
          "COUNT",
          READ_COUNT,
          "BLOCK",
          READ_BLOCK_MS,
          "STREAMS",
          EVENTS,
          this.#lastId,
        ) as [Buffer, [Buffer, Buffer[]][]][] | null;
      } catch (error) {
        // Redis went away, or refused the read: either way the connection starts over, and
        // its "ready" brings the sync that wakes this loop.
        this.#lost(`read failed: ${describeError(error)}`);
        if (this.#reader.status === "ready") this.#reader.disconnect(true);
        continue;
      }
      if (reply === null || epoch !== this.#epoch) continue;
      for (const [, entries] of reply) {
        for (const [id, fields] of entries) {
          this.#lastId = id.toString();
          this.#apply(fields);
        }
      }
    }
  }

  #apply(fields: Buffer[]): void {
    let entry: StreamEntry;
    try {
      entry = decodeStreamEntry(fields);
    } catch (error) {
      this.#logger.log("warn", "redis_bad_entry", describeError(error));
      return;
    }
    if (entry.origin === this.#token || !this.#applied.take(entry.origin, entry.node, entry.seq)) {
      return;
    }
    this.#stats.eventsReceived++;
    this.#servers.add(entry.node);
    const listener = this.#listener!;
    try {
      if (entry.body.kind === "users") listener.serverUsers(entry.node, entry.body.users);
      else listener.remote(entry.body);
    } catch (error) {
      // A bug in one event's handling must not stop the reading of all the others.
      this.#logger.log(
        "error",
        "redis_apply_failed",
        `cannot apply an event: ${describeError(error)}`,
      );
    }
  }
}

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

/** Draws a free server number and holds it with this process's token. */
async function takeServerNumber(
  commands: Redis,
  token: string,
  expiryMs: number,
  where: string,
): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const node = 1 + Math.floor(Math.random() * MAX_NODE);
    if (await commands.set(`${PREFIX}node:${node}`, token, "PX", expiryMs, "NX") === "OK") {
      return node;
    }
  }
  throw new BackplaneConnectError(`Cannot join the cluster at ${where}: no free server number`);
}

/** Where a server hears the private messages for its users. */
function privateChannel(node: number): string {
  return `${PREFIX}private:${node}`;
}

/** "<session id>\n<payload>", as #publishPrivate sends it; undefined for anything else. */
function decodePrivateMessage(message: Buffer): HubEvent | undefined {
  const end = message.indexOf(0x0a);
  const id = end > 0 ? message.subarray(0, end).toString() : "";
  if (!/^\d{1,20}$/.test(id)) return undefined;
  const payload = message.subarray(end + 1);
  return {
    kind: "private",
    sessionId: BigInt(id),
    payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
  };
}
