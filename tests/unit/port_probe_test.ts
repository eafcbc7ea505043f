import assert from "node:assert/strict";
import { isHttpAnswer, probePayload } from "../../lib/client/port_probe.ts";
import { decodeClientMessage } from "../../lib/protocol/codec.ts";

Deno.test("port probe - a chat server reads the probe as a ping; it holds the blank line that ends an HTTP request head", () => {
  const payload = probePayload();
  assert.equal(decodeClientMessage(payload).body.case, "ping");
  assert.ok(new TextDecoder("latin1").decode(payload).includes("\r\n\r\n"));
  // A buffer of its own each time: one connection's write cannot spoil the next.
  assert.notEqual(probePayload(), payload);
});

Deno.test("port probe - an HTTP response is told from a chat frame", () => {
  assert.ok(isHttpAnswer(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n")));
  assert.ok(!isHttpAnswer(new Uint8Array([59, 10, 57, 8, 7])));
  assert.ok(!isHttpAnswer(new TextEncoder().encode("HTT")));
});
