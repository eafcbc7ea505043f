/**
 * `deno task bench:micro`: the fan-out path without sockets. Broadcasts through the hub
 * into its log, then one pass over N members, each taking the views of the log it is
 * due: the per-member work the server does in JavaScript, apart from the write calls.
 */
import { Action } from "../../../gen/chat/v1/chat_pb.ts";
import { Hub } from "../../server/hub.ts";
import { ViewTakingMember } from "./view_taking_member.ts";

for (const sessions of [100, 1000, 10_000]) {
  const hub = new Hub(undefined, 0);
  const members = Array.from(
    { length: sessions },
    (_, i) => new ViewTakingMember(BigInt(i + 1), false),
  );
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
