import type {
  Backplane,
  BackplaneListener,
  BackplaneStats,
  ClusterUser,
  HubEvent,
  NicknameClaim,
} from "../backplane.ts";
import type { WorkerToMain } from "./worker_messages.ts";

/**
 * The backplane between the worker threads of one server process (see
 * ServerOptions.workers). Each worker is a node numbered from 1, so its session ids are
 * `local * 1000 + worker`. Events go to each other worker through a MessagePort of its
 * own (a MessageChannel per pair of workers, set up by the main thread): a port delivers
 * every message, in the order sent. Not a BroadcastChannel, though it would reach every
 * worker in one call: Deno's drops messages for a receiver more than 256 behind, which a
 * busy worker is under a broadcast load. Chat payloads go as the encoded bytes, presence
 * as plain objects; the events of one task go as one message, since a worker takes in at
 * most one message per port in each turn of its event loop, and a busy turn is long.
 *
 * Nickname claims go to the main thread, which answers them one at a time (see
 * NicknameCoordinator); releases take the same road, so a claim and the release of its
 * session's departure reach the coordinator in that order.
 */
export class WorkerBackplane implements Backplane {
  readonly node: number;
  readonly #peers: MessagePort[];
  readonly #post: (message: WorkerToMain) => void;
  readonly #pending = new Map<number, (claim: NicknameClaim) => void>();
  /** Sessions of this worker that claimed a nickname: their departure releases it. */
  readonly #claimants = new Set<bigint>();
  readonly #stats = { eventsPublished: 0, eventsReceived: 0, eventsDropped: 0, outages: 0 };
  /** Events published in the current task, sent together once it is over. */
  #outgoing: HubEvent[] = [];
  #nextId = 0;
  #closed = false;

  /**
   * `peers`: one port to each other worker; what they send before `start` waits in the
   * port. `post` reaches the main thread, whose answers come back through `claimAnswered`.
   */
  constructor(node: number, peers: MessagePort[], post: (message: WorkerToMain) => void) {
    this.node = node;
    this.#peers = peers;
    this.#post = post;
  }

  start(listener: BackplaneListener): void {
    for (const peer of this.#peers) {
      // Setting onmessage starts the port.
      peer.onmessage = ({ data: events }: MessageEvent<HubEvent[]>) => {
        this.#stats.eventsReceived += events.length;
        for (const event of events) listener.remote(event);
      };
    }
  }

  publish(event: HubEvent): void {
    if (this.#closed) return;
    if (event.kind === "left" && this.#claimants.delete(event.sessionId)) {
      this.#post({ type: "release", holder: this.#holder(event.sessionId) });
    }
    if (this.#outgoing.length === 0) queueMicrotask(() => this.#send());
    // postMessage copies a view's whole buffer, and chat payloads may be views into shared
    // slabs (allocateBytes): posted as they are, each would take kilobytes along.
    this.#outgoing.push(
      event.kind === "chat" || event.kind === "private"
        ? { ...event, payload: event.payload.slice() }
        : event,
    );
    this.#stats.eventsPublished++;
  }

  claimNickname(
    user: ClusterUser,
    key: string,
    previousKey: string | undefined,
  ): Promise<NicknameClaim> {
    if (this.#closed) return Promise.resolve("unavailable");
    const id = ++this.#nextId;
    const answer = Promise.withResolvers<NicknameClaim>();
    this.#pending.set(id, answer.resolve);
    this.#claimants.add(user.sessionId);
    this.#post({ type: "claim", id, key, holder: this.#holder(user.sessionId), previousKey });
    return answer.promise;
  }

  /** The main thread's answer to claim `id`. */
  claimAnswered(id: number, claim: NicknameClaim): void {
    const resolve = this.#pending.get(id);
    this.#pending.delete(id);
    resolve?.(claim);
  }

  stats(): BackplaneStats {
    return { state: "local", ...this.#stats };
  }

  [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#send();
    this.#closed = true;
    for (const peer of this.#peers) peer.close();
    for (const resolve of this.#pending.values()) resolve("unavailable");
    this.#pending.clear();
    return Promise.resolve();
  }

  #send(): void {
    if (this.#outgoing.length === 0) return;
    const events = this.#outgoing;
    this.#outgoing = [];
    for (const peer of this.#peers) peer.postMessage(events);
  }

  #holder(sessionId: bigint): string {
    return `${this.node}:${sessionId}`;
  }
}
