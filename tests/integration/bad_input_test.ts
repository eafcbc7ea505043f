import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { encodeClientMessage } from "../../lib/protocol/codec.ts";
import { encodeFrames } from "../../lib/protocol/frame_encoder.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

const ping = (nonce: bigint) => ({ body: { case: "ping" as const, value: { nonce } } });

/** The server still serves `client` and everyone else: a broadcast goes round. */
async function assertStillServing(client: TestClient, bystander: TestClient): Promise<void> {
  await client.send({
    body: {
      case: "chat",
      value: { content: "still here", action: Action.BROADCAST, clientSeq: 1n },
    },
  });
  assert.equal((await bystander.next("chat")).content, "still here");
  assert.equal((await client.next("chat")).content, "still here");
}

Deno.test("bad input - a payload that is not protobuf gets MALFORMED and the connection lives on", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  await using client = await TestClient.connect(server.port);
  await client.sendRaw(encodeFrames([new Uint8Array([0x12, 0x09, 0x0a])]));
  const error = await client.next("error");
  assert.equal(error.code, ErrorCode.MALFORMED);
  assert.equal(error.fatal, false);
  assert.match(error.message, /^Cannot decode ClientMessage/);
  await assertStillServing(client, bystander);
});

Deno.test("bad input - invalid UTF-8 in a string gets MALFORMED", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  await using client = await TestClient.connect(server.port);
  // Chat { content: 0xff 0xfe }
  await client.sendRaw(encodeFrames([new Uint8Array([0x12, 0x04, 0x0a, 0x02, 0xff, 0xfe])]));
  assert.equal((await client.next("error")).code, ErrorCode.MALFORMED);
  await assertStillServing(client, bystander);
});

Deno.test("bad input - an empty body or an unknown oneof case gets UNSUPPORTED", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  await using client = await TestClient.connect(server.port);
  await client.sendRaw(encodeFrames([new Uint8Array(0), new Uint8Array([0x7a, 0x00])]));
  assert.equal((await client.next("error")).code, ErrorCode.UNSUPPORTED);
  assert.equal((await client.next("error")).code, ErrorCode.UNSUPPORTED);
  await assertStillServing(client, bystander);
});

Deno.test("bad input - content over the limit gets CONTENT_TOO_LONG with its client_seq", async () => {
  await using server = await ServerProcess.start(["--max-content-bytes", "10"]);
  await using bystander = await TestClient.connect(server.port);
  await using client = await TestClient.connect(server.port);
  // 6 characters but 12 UTF-8 bytes: the limit is in bytes.
  await client.send({
    body: { case: "chat", value: { content: "éééééé", action: Action.BROADCAST, clientSeq: 5n } },
  });
  const error = await client.next("error");
  assert.equal(error.code, ErrorCode.CONTENT_TOO_LONG);
  assert.equal(error.clientSeq, 5n);
  assert.equal(error.fatal, false);
  await client.send({
    body: { case: "chat", value: { content: "ééééé", action: Action.ECHO, clientSeq: 6n } },
  });
  assert.equal((await client.next("chat")).clientSeq, 6n);
  await assertStillServing(client, bystander);
  assert.equal(bystander.received.filter((m) => m.body.case === "chat").length, 1);
});

Deno.test("bad input - a frame over --max-frame-bytes gets FRAME_TOO_LARGE and is closed", async () => {
  await using server = await ServerProcess.start([
    "--max-frame-bytes",
    "1000",
    "--max-content-bytes",
    "500",
  ]);
  await using bystander = await TestClient.connect(server.port);
  await using client = await TestClient.connect(server.port);
  // The prefix alone (1001) is enough; the payload never needs to arrive.
  await client.sendRaw(new Uint8Array([0xe9, 0x07]));
  const error = await client.next("error");
  assert.equal(error.code, ErrorCode.FRAME_TOO_LARGE);
  assert.equal(error.fatal, true);
  assert.equal(error.message, "Cannot parse frame: length 1001 exceeds 1000 bytes");
  await client.closed;
  await server.stdout.waitFor(/disconnected .* frame too large \(sessions 2->1\)/);
  await bystander.send(ping(3n));
  assert.equal((await bystander.next("pong")).nonce, 3n);
});

Deno.test("bad input - a length prefix over 5 bytes gets FRAME_TOO_LARGE and is closed", async () => {
  await using server = await ServerProcess.start();
  await using client = await TestClient.connect(server.port);
  await client.sendRaw(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]));
  const error = await client.next("error");
  assert.equal(error.code, ErrorCode.FRAME_TOO_LARGE);
  assert.equal(error.message, "Cannot parse frame: length prefix exceeds 5 bytes");
  await client.closed;
});

Deno.test("bad input - the largest allowed frame is accepted", async () => {
  await using server = await ServerProcess.start(["--max-frame-bytes", "5000"]);
  await using client = await TestClient.connect(server.port);
  // Pad a ping with an unknown field so the payload is exactly 5000 bytes.
  const ping = encodeClientMessage({ body: { case: "ping", value: { nonce: 4n } } });
  const padding = 5000 - ping.length - 3; // tag 0x7a (field 15, LEN) + a 2-byte length
  const payload = new Uint8Array([...ping, 0x7a, (padding & 0x7f) | 0x80, padding >> 7]);
  const framed = new Uint8Array([...payload, ...new Uint8Array(padding)]);
  assert.equal(framed.length, 5000);
  await client.sendRaw(encodeFrames([framed]));
  assert.equal((await client.next("pong")).nonce, 4n);
});

Deno.test("bad input - frames split at every byte and coalesced in one write are all handled", async () => {
  await using server = await ServerProcess.start();
  await using client = await TestClient.connect(server.port);
  const bytes = encodeFrames([1n, 2n, 3n].map((nonce) => encodeClientMessage(ping(nonce))));
  for (const byte of bytes) await client.sendRaw(new Uint8Array([byte]));
  await client.sendRaw(encodeFrames([4n, 5n, 6n].map((nonce) => encodeClientMessage(ping(nonce)))));
  for (const nonce of [1n, 2n, 3n, 4n, 5n, 6n]) {
    assert.equal((await client.next("pong")).nonce, nonce);
  }
});

Deno.test("bad input - a client that closes mid-frame is cleaned up", async () => {
  await using server = await ServerProcess.start();
  await using bystander = await TestClient.connect(server.port);
  const client = await TestClient.connect(server.port);
  await client.sendRaw(new Uint8Array([0x10, 0x12, 0x01]));
  await client[Symbol.asyncDispose]();
  const left = await bystander.nextPresence(PresenceKind.LEFT);
  assert.equal(left.sessionId, client.sessionId);
  assert.equal(left.online, 1);
});
