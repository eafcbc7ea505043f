import assert from "node:assert/strict";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

const CLIENTS = 200;
const BROADCASTS_EACH = 50;

Deno.test("fan-out - 200 clients x 50 broadcasts: each delivered exactly once, in one order everywhere", async () => {
  await using server = await ServerProcess.start(["--quiet"]);
  const clients: TestClient[] = [];
  for (let i = 0; i < CLIENTS; i++) clients.push(await TestClient.connect(server.port));
  try {
    // Every client fires all its broadcasts at once, so the server sees them interleaved.
    await Promise.all(clients.map((client) => {
      const messages = [];
      for (let seq = 1n; seq <= BigInt(BROADCASTS_EACH); seq++) {
        messages.push({
          body: {
            case: "chat" as const,
            value: {
              content: `${client.sessionId}/${seq}`,
              action: Action.BROADCAST,
              clientSeq: seq,
            },
          },
        });
      }
      return client.send(...messages);
    }));

    const total = CLIENTS * BROADCASTS_EACH;
    const orders = await Promise.all(clients.map(async (client) => {
      const events = await client.take("chat", total, 60_000);
      for (const event of events) {
        assert.equal(event.content, `${event.fromSessionId}/${event.clientSeq}`);
      }
      return events.map((event) => event.content);
    }));

    for (const order of orders) {
      // Exactly once: every (sender, seq) pair, no more.
      assert.equal(new Set(order).size, total);
      // Each sender's messages in the order it sent them.
      const lastSeq = new Map<string, number>();
      for (const content of order) {
        const [sender, seq] = content.split("/");
        assert.equal(Number(seq), (lastSeq.get(sender) ?? 0) + 1);
        lastSeq.set(sender, Number(seq));
      }
      // The order the server accepted them in is the same for every recipient.
      assert.deepEqual(order, orders[0]);
    }
    // Nothing more arrived after the expected total.
    await clients[0].send({ body: { case: "ping", value: { nonce: 1n } } });
    await clients[0].next("pong");
    assert.equal(clients[0].received.filter((m) => m.body.case === "chat").length, total);
  } finally {
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
});
