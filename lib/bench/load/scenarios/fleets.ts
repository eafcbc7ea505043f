/**
 * A worker's clients for the broadcast scenario, over either target, behind one shape:
 * connect, then report each delivery as (receiver, publisher, seq, send time, now) with
 * publishers numbered 0..P-1 across all workers, and publish by local publisher index.
 */
import { Action, ErrorCode } from "../../../../gen/chat/v1/chat_pb.ts";
import { ChatFrameEncoder } from "../chat_frames.ts";
import { ChatLoadClient } from "../chat_load_client.ts";
import { Body, type ServerFrame } from "../frame_reader.ts";
import { PublishEncoder, readPublisher, readSeq } from "../resp.ts";
import { RedisLoadClient } from "../redis_load_client.ts";
import { readSendTime } from "../send_time.ts";
import type { Tally } from "../tally.ts";

export type OnDelivery = (
  receiver: number,
  publisher: number,
  seq: number,
  sentMs: number,
  nowMs: number,
) => void;

export interface Fleet {
  /** What identifies this worker's publishers on the wire, for the other workers. */
  readonly publisherIds: number[];
  /**
   * Starts reporting deliveries. `allPublisherIds` lists every worker's publisher ids in
   * global order; this worker's are from `firstPublisher` on.
   */
  start(allPublisherIds: number[], firstPublisher: number, onDelivery: OnDelivery): void;
  publish(publisher: number, seq: number): void;
  close(): void;
}

/** Connects under way at once, per worker process: well under the accept queue's 511. */
const CONNECTS_IN_FLIGHT = 128;

export const REDIS_CHANNEL = "bench:load:broadcast";
const READ_BUFFER_BYTES = 64 * 1024;

/** Records why each client's connection ended, unless the bench ended it. */
function watch(ended: Promise<string>, tally: Tally): void {
  ended.then((reason) => {
    if (reason !== "closed by the bench") tally.disconnected(reason);
  });
}

/**
 * Opens `count` connections, a bounded number at a time: thousands of connects at once
 * overflow the server's accept queue, and the kernel then retries the dropped ones only
 * after 1, 3, 7, 15... seconds.
 */
async function connectAll<T>(count: number, connect: (index: number) => Promise<T>): Promise<T[]> {
  const connections: T[] = new Array(count);
  let next = 0;
  const opener = async () => {
    while (next < count) {
      const index = next++;
      connections[index] = await connect(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECTS_IN_FLIGHT, count) }, opener));
  return connections;
}

export async function chatFleet(
  hostname: string,
  port: number,
  clients: number,
  publishers: number,
  contentBytes: number,
  tally: Tally,
): Promise<Fleet> {
  const connections = await connectAll(clients, async () => {
    const client = await ChatLoadClient.connect(hostname, port, READ_BUFFER_BYTES);
    await client.welcomed;
    watch(client.ended, tally);
    return client;
  });
  const encoder = new ChatFrameEncoder(contentBytes, Action.BROADCAST);
  return {
    publisherIds: connections.slice(0, publishers).map((client) => client.sessionId),
    start(allPublisherIds, _firstPublisher, onDelivery) {
      // Session ids are the server's; broadcasts from anyone else are not ours to count.
      const publisherOf = new Map(allPublisherIds.map((id, index) => [id, index]));
      connections.forEach((client, receiver) => {
        client.onFrame = (frame: ServerFrame, nowMs: number) => {
          if (frame.body === Body.Error) tally.error(ErrorCode[frame.errorCode] ?? "unknown");
          if (frame.body !== Body.Chat || frame.action !== Action.BROADCAST) return;
          const publisher = publisherOf.get(frame.fromSessionId);
          if (publisher === undefined) return;
          const sentMs = readSendTime(frame.bytes, frame.contentStart, frame.contentEnd);
          onDelivery(receiver, publisher, frame.clientSeq, sentMs, nowMs);
        };
      });
    },
    publish(publisher, seq) {
      encoder.write(connections[publisher].writer, seq);
    },
    close() {
      for (const client of connections) client.close();
    },
  };
}

export async function redisFleet(
  hostname: string,
  port: number,
  clients: number,
  publishers: number,
  payloadBytes: number,
  tally: Tally,
): Promise<Fleet> {
  const connections = await connectAll(clients, async (index) => {
    const client = await RedisLoadClient.connect(
      hostname,
      port,
      REDIS_CHANNEL,
      index < publishers,
    );
    watch(client.ended, tally);
    return client;
  });
  let encoders: PublishEncoder[] = [];
  return {
    // Redis says nothing of who published: the payload carries the global index.
    publisherIds: Array.from({ length: publishers }, (_, index) => index),
    start(allPublisherIds, firstPublisher, onDelivery) {
      encoders = Array.from(
        { length: publishers },
        (_, index) => new PublishEncoder(REDIS_CHANNEL, payloadBytes, firstPublisher + index),
      );
      const total = allPublisherIds.length;
      connections.forEach((client, receiver) => {
        client.onMessage = (bytes, start, end, nowMs) => {
          if (end - start !== payloadBytes) return;
          const publisher = readPublisher(bytes, start);
          if (publisher >= total) return;
          const sentMs = readSendTime(bytes, start, end);
          onDelivery(receiver, publisher, readSeq(bytes, start), sentMs, nowMs);
        };
      });
    },
    publish(publisher, seq) {
      connections[publisher].publish(encoders[publisher], seq);
    },
    close() {
      for (const client of connections) {
        if (client.errors > 0) tally.error("Redis error reply", client.errors);
        client.close();
      }
    },
  };
}
