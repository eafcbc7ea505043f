import assert from "node:assert/strict";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { SERVER_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** --workers takes --unstable-net (SO_REUSEPORT), and its workers read the server's modules. */
const WORKERS_LAUNCHER = [
  Deno.execPath(),
  "run",
  "--allow-net",
  "--allow-env=CHAT_POISON_BUFFERS",
  `--allow-read=${ROOT}`,
  "--unstable-net",
  SERVER_SCRIPT,
];

const SERVER_ARGS = ["--workers", "2", "--rate-limit", "0", "--rename-limit", "0", "--quiet"];

// Finding 1 again, with nothing read after the frames that wait: without poisoned buffers a
// view of the read buffer kept past push() goes unnoticed here, as no later read overwrites
// it. With them (the default for ServerProcess, lib/net/poison_buffer.ts) it reads as
// garbage at once, and the chat comes back MALFORMED.
Deno.test("poison buffers - a chat that waits behind a nickname claim, with no read after it, is echoed as sent", async () => {
  await using server = await ServerProcess.start(SERVER_ARGS, WORKERS_LAUNCHER);
  await using client = await TestClient.connect(server.port);
  for (let round = 0; round < 5; round++) {
    const content = `waits behind claim ${round}`;
    // In one write: the chat is in the same read as the Hello whose claim it waits for.
    await client.send(
      { body: { case: "hello", value: { nickname: `claimer${round}` } } },
      { body: { case: "chat", value: { content, action: Action.ECHO, clientSeq: 1n } } },
    );
    const echoed = await client.nextMatching((m) =>
      m.body.case === "chat" || m.body.case === "error"
    );
    assert.equal(
      echoed.body.case,
      "chat",
      `round ${round}: ${
        JSON.stringify(echoed.body.value, (_, v) => typeof v === "bigint" ? String(v) : v)
      }`,
    );
    assert.equal(echoed.body.value.content, content);
  }
});
