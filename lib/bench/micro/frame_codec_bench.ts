/**
 * `deno task bench:micro`: the frame codec on its own. A server spends this per frame
 * it reads (decode) and per batch it writes (encode), so these bound what one core can do.
 */
import { Action } from "../../../gen/chat/v1/chat_pb.ts";
import {
  decodeClientMessage,
  encodeClientMessage,
  encodeServerMessage,
} from "../../protocol/codec.ts";
import { FrameDecoder } from "../../protocol/frame_decoder.ts";
import { encodeFrames } from "../../protocol/frame_encoder.ts";

const CONTENT = "x".repeat(32);
const chatRequest = encodeClientMessage({
  body: { case: "chat", value: { content: CONTENT, action: Action.BROADCAST, clientSeq: 12345n } },
});
/** What one read from a busy publisher holds: many whole frames. */
const read = encodeFrames(Array.from({ length: 64 }, () => chatRequest));
/** The ServerMessage a broadcast of `clientSeq` from alice is sent to everyone as. */
function chatEvent(clientSeq: bigint): Uint8Array {
  return encodeServerMessage({
    body: {
      case: "chat",
      value: {
        action: Action.BROADCAST,
        content: CONTENT,
        fromSessionId: 1814n,
        fromNickname: "alice",
        clientSeq,
        sentAtUnixMs: 1_764_000_000_000n,
      },
    },
  });
}
const chatEvents = Array.from({ length: 64 }, (_, i) => chatEvent(BigInt(i)));

Deno.bench(
  "frame codec - split a 64-frame read into frames",
  { group: "decode", baseline: true },
  () => {
    let frames = 0;
    new FrameDecoder(65536).push(read, () => frames++);
    if (frames !== 64) throw new Error(`split ${frames} frames`);
  },
);

Deno.bench("frame codec - split and decode 64 ClientMessages", { group: "decode" }, () => {
  new FrameDecoder(65536).push(read, (payload) => decodeClientMessage(payload));
});

Deno.bench("frame codec - encode one ChatEvent (done once per broadcast)", () => {
  chatEvent(1n);
});

Deno.bench("frame codec - frame a batch of 64 events for one write", () => {
  encodeFrames(chatEvents);
});
