/**
 * `deno task bench:micro`: the fan-out path without sockets. Broadcasts through the hub
 * into its log, then one pass over N members, each taking the views of the log it is
 * due: the per-member work the server does in JavaScript, apart from the write calls.
 */
import { Action } from "../../../gen/chat/v1/chat_pb.ts";
import type { BroadcastLog } from "../../net/broadcast_log.ts";
import { Hub, type HubMember } from "../../server/hub.ts";

class ViewTakingMember implements HubMember {
  nickname: string;
  taken: Uint8Array[] = [];
  #log: BroadcastLog | undefined;
  #position = 0;
  constructor(readonly id: bigint) {
    this.nickname = `guest-${id}`;
  }
  send(): void {}
  follow(log: BroadcastLog): void {
    this.#log = log;
    this.#position = log.head;
  }
  deliver(): number {
    const log = this.#log!;
    this.taken = log.views(this.#position);
    this.#position = log.head;
    return this.#position;
  }
}

for (const sessions of [100, 1000, 10_000]) {
  const hub = new Hub(undefined, 0);
  const members = Array.from({ length: sessions }, (_, i) => new ViewTakingMember(BigInt(i + 1)));
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

  Deno.bench(`fan-out - 16 broadcasts to ${sessions} sessions, then one pass`, {
    group: `fan-out ${sessions}`,
    n: 200,
  }, () => {
    for (let i = 0; i < 16; i++) hub.broadcast(message);
    hub.flush();
  });
}
