import {
  type Presence,
  PresenceKind,
  type ServerMessage,
  type Welcome,
} from "../../gen/chat/v1/chat_pb.ts";
import { deadline } from "./deadline.ts";

type Case = NonNullable<ServerMessage["body"]["case"]>;
type BodyOf<C extends Case> = Extract<ServerMessage["body"], { case: C }>["value"];

/**
 * The messages a test client has received, and ways to wait for the ones a test
 * expects, with bounded timeouts instead of sleeps. Transports (TCP, WebSocket)
 * feed it with `deliver` and `end`.
 */
export class Inbox {
  /** Every message received, in order. */
  readonly received: ServerMessage[] = [];
  welcome!: Welcome;
  #cursor = 0;
  #wake: (() => void) | undefined;
  #ended = false;

  get sessionId(): bigint {
    return this.welcome.sessionId;
  }

  protected get ended(): boolean {
    return this.#ended;
  }

  protected deliver(message: ServerMessage): void {
    this.received.push(message);
    this.#wake?.();
  }

  protected end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /**
   * The next message of this kind, skipping (but keeping in `received`) any other
   * kind, such as presence from other tests' clients.
   */
  async next<C extends Case>(kind: C, ms = 10_000): Promise<BodyOf<C>> {
    const message = await this.nextMatching((m) => m.body.case === kind, ms, kind);
    return message.body.value as BodyOf<C>;
  }

  /** The next `count` messages of this kind, under one deadline. */
  take<C extends Case>(kind: C, count: number, ms = 10_000): Promise<BodyOf<C>[]> {
    const taken = (async () => {
      const bodies: BodyOf<C>[] = [];
      while (bodies.length < count) {
        const message = await this.#scan((m) => m.body.case === kind);
        bodies.push(message.body.value as BodyOf<C>);
      }
      return bodies;
    })();
    return deadline(taken, ms, () => `${count} x ${kind}; received so far: ${this.#summary()}`);
  }

  /** The next Presence of this kind. */
  async nextPresence(kind: PresenceKind, ms = 10_000): Promise<Presence> {
    const message = await this.nextMatching(
      (m) => m.body.case === "presence" && m.body.value.kind === kind,
      ms,
      `presence ${PresenceKind[kind]}`,
    );
    return message.body.value as Presence;
  }

  /** The next message that satisfies `test`, waiting up to `ms`. */
  nextMatching(
    test: (message: ServerMessage) => boolean,
    ms = 10_000,
    what = "a matching message",
  ): Promise<ServerMessage> {
    return deadline(this.#scan(test), ms, () => `${what}; received so far: ${this.#summary()}`);
  }

  async #scan(test: (message: ServerMessage) => boolean): Promise<ServerMessage> {
    while (true) {
      while (this.#cursor < this.received.length) {
        const message = this.received[this.#cursor++];
        if (test(message)) return message;
      }
      if (this.#ended) throw new Error("connection closed");
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Waits until any message received so far, skipped ones included, satisfies `test`. */
  async seen(test: (message: ServerMessage) => boolean, ms = 10_000): Promise<ServerMessage> {
    const found = this.received.find(test);
    if (found !== undefined) return found;
    return await this.nextMatching(test, ms);
  }

  #summary(): string {
    const counts = new Map<string, number>();
    for (const message of this.received) {
      const kind = message.body.case ?? "empty";
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    return [...counts].map(([kind, count]) => `${count} x ${kind}`).join(", ") || "nothing";
  }
}
