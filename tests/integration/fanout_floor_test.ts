import assert from "node:assert/strict";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { LineReader } from "../support/line_reader.ts";
import { chat } from "../support/messages.ts";
import { TestClient } from "../support/test_client.ts";

const TOOL = new URL("../../lib/bench/fanout_floor.ts", import.meta.url).pathname;

Deno.test("fan-out floor bench - relays each broadcast to every connection, in order", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TOOL, "--host", "127.0.0.1", "--port", "0"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const line = await new LineReader(child.stdout).waitFor(/listening on /, 30_000);
    const port = Number(/:(\d+)$/.exec(line)![1]);
    await using a = await TestClient.connect(port);
    await using b = await TestClient.connect(port);
    assert.notEqual(a.welcome.sessionId, b.welcome.sessionId);
    await a.send(
      ...Array.from({ length: 50 }, (_, i) => chat(`m${i}`, Action.BROADCAST, BigInt(i))),
    );
    for (const client of [a, b]) {
      const events = await client.take("chat", 50, 10_000);
      assert.deepEqual(events.map((event) => event.content), events.map((_, i) => `m${i}`));
      assert.ok(events.every((event) => event.fromSessionId === a.welcome.sessionId));
    }
  } finally {
    child.kill();
    await child.status;
  }
});
