/**
 * `deno task bench:micro`: the fan-out path without sockets. One broadcast through the
 * hub to N sessions' queues, and the framing of what each session then writes: the
 * per-delivery work the server does in JavaScript, apart from the write calls.
 */
import { Action } from "../../../gen/chat/v1/chat_pb.ts";
import { Hub, type HubMember } from "../../server/hub.ts";
import { encodeChunks, type OutboundChunk } from "../../net/framed_batch.ts";

class QueueingMember implements HubMember {
  nickname: string;
  queued: OutboundChunk[] = [];
  constructor(readonly id: bigint) {
    this.nickname = `guest-${id}`;
  }
  send(chunk: OutboundChunk): void {
    this.queued.push(chunk);
  }
}

for (const sessions of [100, 1000]) {
  const hub = new Hub(undefined, 0);
  const members = Array.from({ length: sessions }, (_, i) => new QueueingMember(BigInt(i + 1)));
  for (const member of members) hub.join(member);
  const message = {
    body: {
      case: "chat" as const,
      value: {
        action: Action.BROADCAST,
        content: "x".repeat(32),
        fromSessionId: 1n,
        clientSeq: 1n,
      },
    },
  };

  Deno.bench(`fan-out - 16 broadcasts to ${sessions} sessions, then one write batch each`, {
    group: `fan-out ${sessions}`,
    n: 200,
  }, () => {
    for (let i = 0; i < 16; i++) hub.broadcast(message);
    hub.flush();
    for (const member of members) {
      encodeChunks(member.queued);
      member.queued = [];
    }
  });
}
