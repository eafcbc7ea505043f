/**
 * One bench client of Redis pub/sub: a SUBSCRIBE connection, standing for a chat
 * client, and for publishers a second connection for PUBLISH (a RESP2 connection that
 * has subscribed may not publish). The publisher's own subscription receiving its
 * message is its acknowledgment, as a chat client's own broadcast copy is.
 */
import { describe } from "./chat_load_client.ts";
import { command, PublishEncoder, PushReader } from "./resp.ts";
import { wallClockMs } from "./send_time.ts";
import { SocketWriter } from "./socket_writer.ts";

export class RedisLoadClient {
  /** Called for every message on the channel, with the time its read completed. */
  onMessage: (bytes: Uint8Array, start: number, end: number, nowMs: number) => void = () => {};
  /** Error replies: a refused PUBLISH, say. */
  errors = 0;
  readonly ended: Promise<string>;
  readonly #subscriber: Deno.TcpConn;
  readonly #publisher: Deno.TcpConn | undefined;
  readonly #writer: SocketWriter | undefined;
  #closing = false;

  private constructor(
    subscriber: Deno.TcpConn,
    publisher: Deno.TcpConn | undefined,
    subscribed: () => void,
  ) {
    this.#subscriber = subscriber;
    this.#publisher = publisher;
    this.#writer = publisher && new SocketWriter(publisher, 4096);
    const ends = [this.#readPushes(subscribed)];
    if (publisher) ends.push(this.#readReplies(publisher));
    // The client is done for when either connection ends.
    this.ended = Promise.race(ends).then(
      (reason) => this.#closing ? "closed by the bench" : reason,
      (error) => this.#closing ? "closed by the bench" : describe(error),
    );
    this.ended.then(() => this.close());
  }

  /** Connects, subscribes to `channel` and, for a publisher, opens its PUBLISH connection. */
  static async connect(
    hostname: string,
    port: number,
    channel: string,
    publishing: boolean,
  ): Promise<RedisLoadClient> {
    const subscriber = await Deno.connect({ hostname, port });
    let publisher: Deno.TcpConn | undefined;
    try {
      publisher = publishing ? await Deno.connect({ hostname, port }) : undefined;
    } catch (error) {
      subscriber.close();
      throw error;
    }
    for (const conn of [subscriber, publisher]) conn?.setNoDelay(true);
    const subscribed = Promise.withResolvers<void>();
    const client = new RedisLoadClient(subscriber, publisher, subscribed.resolve);
    client.ended.then((reason) => subscribed.reject(new Error(reason)));
    await subscriber.write(command("SUBSCRIBE", channel));
    await subscribed.promise;
    return client;
  }

  publish(encoder: PublishEncoder, seq: number): void {
    encoder.write(this.#writer!, seq);
  }

  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    for (const conn of [this.#subscriber, this.#publisher]) {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
    }
  }

  async #readPushes(subscribed: () => void): Promise<string> {
    const buffer = new Uint8Array(64 * 1024);
    let nowMs = 0;
    const reader = new PushReader({
      message: (bytes, start, end) => this.onMessage(bytes, start, end, nowMs),
      subscribed,
      error: () => this.errors++,
    });
    while (true) {
      const count = await this.#subscriber.read(buffer);
      if (count === null) return "closed by Redis";
      nowMs = wallClockMs();
      reader.push(buffer, count);
    }
  }

  /** PUBLISH replies are ":<receivers>\r\n" or "-<error>\r\n": count the errors. */
  async #readReplies(conn: Deno.TcpConn): Promise<string> {
    const buffer = new Uint8Array(16 * 1024);
    let lineStart = true;
    while (true) {
      const count = await conn.read(buffer);
      if (count === null) return "closed by Redis";
      for (let i = 0; i < count; i++) {
        const byte = buffer[i];
        if (lineStart && byte === 0x2d) this.errors++;
        lineStart = byte === 0x0a;
      }
    }
  }
}
