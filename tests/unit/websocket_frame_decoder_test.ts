import assert from "node:assert/strict";
import { MAX_FRAGMENTS, WebSocketFrameDecoder } from "../../lib/net/websocket_frame_decoder.ts";
import { WebSocketOpcode } from "../../lib/net/websocket_opcode.ts";
import { WebSocketProtocolError } from "../../lib/net/websocket_protocol_error.ts";
import { FrameTooLargeError, MalformedMessageError } from "../../lib/protocol/errors.ts";
import { encodeClientFrame } from "../support/websocket_client_frame.ts";

/** What the decoder reported, in order. */
function decodeAll(decoder: WebSocketFrameDecoder, ...chunks: Uint8Array[]): string[] {
  const seen: string[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk, {
      binary: (payload) => seen.push(`binary ${[...payload].join(",")}`),
      ping: (payload) => seen.push(`ping ${[...payload].join(",")}`),
      close: (code) => seen.push(`close ${code}`),
    });
  }
  return seen;
}

Deno.test("websocket frame decoder - messages whole, split byte by byte, fragmented, with pings between", () => {
  const frames = [
    encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [1, 2, 3] }),
    encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [4], final: false }),
    encodeClientFrame({ opcode: WebSocketOpcode.ping, payload: [9] }),
    encodeClientFrame({ opcode: WebSocketOpcode.continuation, payload: [5, 6] }),
    encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: new Array(300).fill(7) }),
    encodeClientFrame({ opcode: WebSocketOpcode.close, payload: [0x03, 0xe8] }),
  ];
  const bytes = new Uint8Array(frames.reduce((size, frame) => size + frame.length, 0));
  let at = 0;
  for (const frame of frames) {
    bytes.set(frame, at);
    at += frame.length;
  }
  const expected = [
    "binary 1,2,3",
    "ping 9",
    "binary 4,5,6",
    `binary ${new Array(300).fill(7).join(",")}`,
    "close 1000",
  ];
  for (const code of [1001, 1003, 1007, 1014, 3000, 4999]) {
    const close = encodeClientFrame({
      opcode: WebSocketOpcode.close,
      payload: [code >> 8, code & 0xff, ...new TextEncoder().encode("bye é")],
    });
    assert.deepEqual(decodeAll(new WebSocketFrameDecoder(1000), close), [`close ${code}`]);
  }
  assert.deepEqual(decodeAll(new WebSocketFrameDecoder(1000), bytes.slice()), expected);
  const decoder = new WebSocketFrameDecoder(1000);
  const oneByOne = [...bytes].map((byte) => new Uint8Array([byte]));
  assert.deepEqual(decodeAll(decoder, ...oneByOne), expected);
  assert.equal(decoder.hasPartialFrame, false);
});

Deno.test("websocket frame decoder - a partial frame is reported until it completes", () => {
  const decoder = new WebSocketFrameDecoder(1000);
  const frame = encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [1, 2, 3] });
  assert.equal(decoder.hasPartialFrame, false);
  decodeAll(decoder, frame.slice(0, 1));
  assert.equal(decoder.hasPartialFrame, true);
  decodeAll(decoder, frame.slice(1, 8));
  assert.equal(decoder.hasPartialFrame, true);
  assert.deepEqual(decodeAll(decoder, frame.slice(8)), ["binary 1,2,3"]);
  assert.equal(decoder.hasPartialFrame, false);
});

Deno.test("websocket frame decoder - a message over the limit is refused by its announced length", () => {
  const header = encodeClientFrame({
    opcode: WebSocketOpcode.binary,
    announcedLength: 60_000_000n,
  });
  assert.throws(() => decodeAll(new WebSocketFrameDecoder(1000), header), FrameTooLargeError);
  // Fragments count together.
  const first = encodeClientFrame({
    opcode: WebSocketOpcode.binary,
    payload: new Array(600),
    final: false,
  });
  const second = encodeClientFrame({
    opcode: WebSocketOpcode.continuation,
    announcedLength: 600n,
  });
  assert.throws(
    () => decodeAll(new WebSocketFrameDecoder(1000), first, second),
    FrameTooLargeError,
  );
  // Fragments are counted: endless empty ones would otherwise keep a message open for ever.
  const start = encodeClientFrame({ opcode: WebSocketOpcode.binary, final: false });
  const empty = encodeClientFrame({ opcode: WebSocketOpcode.continuation, final: false });
  const last = encodeClientFrame({ opcode: WebSocketOpcode.continuation, payload: [9] });
  const decoder = new WebSocketFrameDecoder(1000);
  decodeAll(decoder, start);
  for (let i = 2; i < MAX_FRAGMENTS; i++) decodeAll(decoder, empty);
  assert.deepEqual(decodeAll(decoder, last), ["binary 9"]);
  decodeAll(decoder, start);
  for (let i = 2; i <= MAX_FRAGMENTS; i++) decodeAll(decoder, empty);
  assert.throws(() => decodeAll(decoder, last), FrameTooLargeError);
});

Deno.test("websocket frame decoder - text is refused at its header; RFC 6455 breaches are protocol errors", () => {
  // Its first two bytes are enough: what it holds is never read.
  const text = encodeClientFrame({ opcode: WebSocketOpcode.text, announcedLength: 5n });
  assert.throws(
    () => decodeAll(new WebSocketFrameDecoder(1000), text.slice(0, 2)),
    (thrown: unknown) =>
      thrown instanceof MalformedMessageError && !(thrown instanceof WebSocketProtocolError),
  );
  const breaches = [
    encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [1], mask: null }),
    encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [1], reserved: 4 }),
    encodeClientFrame({ opcode: WebSocketOpcode.ping, payload: new Array(126) }),
    encodeClientFrame({ opcode: WebSocketOpcode.ping, payload: [1], final: false }),
    encodeClientFrame({ opcode: WebSocketOpcode.continuation, payload: [1] }),
    encodeClientFrame({ opcode: 0x3, payload: [1] }),
    encodeClientFrame({ opcode: WebSocketOpcode.close, payload: [3] }),
    // Codes no peer may send (RFC 6455 section 7.4), and a reason that is not UTF-8.
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000].map((code) =>
      encodeClientFrame({ opcode: WebSocketOpcode.close, payload: [code >> 8, code & 0xff] })
    ),
    encodeClientFrame({ opcode: WebSocketOpcode.close, payload: [0x03, 0xe8, 0xff] }),
  ];
  for (const frame of breaches) {
    assert.throws(() => decodeAll(new WebSocketFrameDecoder(1000), frame), WebSocketProtocolError);
  }
});

Deno.test("websocket frame decoder - once messages are discarded, only the close frame is reported", () => {
  const decoder = new WebSocketFrameDecoder(1000);
  const first = encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [1], final: false });
  assert.deepEqual(decodeAll(decoder, first), []);
  decoder.discardMessages();
  const rest = [
    encodeClientFrame({ opcode: WebSocketOpcode.continuation, payload: [2] }),
    encodeClientFrame({ opcode: WebSocketOpcode.binary, payload: [3] }),
    encodeClientFrame({ opcode: WebSocketOpcode.close, payload: [0x03, 0xe8] }),
  ];
  assert.deepEqual(decodeAll(decoder, ...rest), ["close 1000"]);
});
