/**
 * Cases of the WebSocket framing itself (RFC 6455), written against the protocol and
 * not against any one server's implementation: protocol violations, refused messages,
 * random bytes and odd or wrong opening handshakes. A violation ends the connection;
 * what came before it is answered; the server and everyone else go on.
 */
import assert from "node:assert/strict";
import { ErrorCode } from "../../../gen/chat/v1/chat_pb.ts";
import { WebSocketOpcode as OPCODE } from "../../../lib/net/websocket_opcode.ts";
import { websocketAccept } from "../../support/websocket_accept.ts";
import { type ClientFrameInit, encodeClientFrame } from "../../support/websocket_client_frame.ts";
import { describeMessage, hex, same } from "../describe.ts";
import { sendableCloseCode, websocketMask } from "../fuzz_conn.ts";
import { ALLOWED_FRAME_ERRORS, delay, MAX_FRAME } from "../fuzz_settings.ts";
import { pingPayload } from "../protobuf_wire.ts";
import type { Rng } from "../rng.ts";
import { type CaseEnv, type CaseInfo, openConn, Session } from "./session.ts";

/** Close codes for a connection failed for a protocol violation (RFC 6455 section 7.4.1). */
const VIOLATION_CLOSE_CODES = [1002, 1003, 1007, 1008, 1009];
/** Errors that may explain a violation before the Close, the last message. */
const VIOLATION_ERRORS = ["error MALFORMED fatal seq=0", "error FRAME_TOO_LARGE fatal seq=0"];

/** Valid pings, answered before anything else is sent: a reset later cannot lose their pongs. */
async function pingsFirst(session: Session, rng: Rng): Promise<bigint[]> {
  const nonces = Array.from({ length: rng.int(0, 2) }, (_, i) => (1n << 60n) + BigInt(i));
  if (nonces.length === 0) return nonces;
  const conn = session.conn;
  await session.send(conn.encode(rng, nonces.map(pingPayload)), nonces.length);
  const ponged = (n: bigint) =>
    conn.messages.some((m) => m.body.case === "pong" && m.body.value.nonce === n);
  await conn.until(() => nonces.every(ponged), `the pongs ${nonces}`);
  await conn.pongsAnswered();
  return nonces;
}

function frameBytes(rng: Rng, init: ClientFrameInit): number[] {
  return [...encodeClientFrame({ mask: websocketMask(rng), ...init })];
}

/** One frame (or two) that break RFC 6455: the server must fail the connection. */
function violation(rng: Rng): { label: string; bytes: number[]; ofClose: boolean } {
  const payload = () => rng.bytes(rng.int(0, 20));
  const close = (bytes: number[]) => frameBytes(rng, { opcode: OPCODE.close, payload: bytes });
  const choice = rng.pick([
    "unmasked frame",
    "reserved bits",
    "unknown opcode",
    "continuation of nothing",
    "new message inside a fragmented one",
    "fragmented control frame",
    "long control frame",
    "length with its top bit set",
    "close with a code that may not be sent",
    "close with a 1-byte payload",
    "close with a reason that is not UTF-8",
  ]);
  const broken = (label: string, bytes: number[]) => ({ label, bytes, ofClose: false });
  // A broken close frame is the end anyway: answered with any Close, or none.
  const brokenClose = (label: string, bytes: number[]) => ({ label, bytes, ofClose: true });
  switch (choice) {
    case "unmasked frame": {
      const opcode = rng.pick([OPCODE.binary, OPCODE.ping]);
      return broken(choice, frameBytes(rng, { opcode, mask: null, payload: pingPayload(2n) }));
    }
    case "reserved bits": {
      const opcode = rng.pick([OPCODE.binary, OPCODE.ping]);
      const reserved = rng.int(1, 7);
      return broken(
        `${choice} ${reserved}`,
        frameBytes(rng, { opcode, reserved, payload: pingPayload(1n) }),
      );
    }
    case "unknown opcode": {
      const opcode = rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]);
      return broken(`opcode ${opcode}`, frameBytes(rng, { opcode, payload: payload() }));
    }
    case "continuation of nothing": {
      const final = rng.bool();
      return broken(
        choice,
        frameBytes(rng, { opcode: OPCODE.continuation, final, payload: payload() }),
      );
    }
    case "new message inside a fragmented one": {
      const second = rng.pick([OPCODE.binary, OPCODE.text]);
      return broken(choice, [
        ...frameBytes(rng, { opcode: OPCODE.binary, final: false, payload: [0x1a] }),
        ...frameBytes(rng, { opcode: second, payload: [0] }),
      ]);
    }
    case "fragmented control frame": {
      const opcode = rng.pick([OPCODE.ping, OPCODE.pong, OPCODE.close]);
      return broken(choice, frameBytes(rng, { opcode, final: false, payload: [] }));
    }
    case "long control frame": {
      const opcode = rng.pick([OPCODE.ping, OPCODE.pong]);
      return broken(choice, frameBytes(rng, { opcode, payload: rng.bytes(rng.int(126, 300)) }));
    }
    case "length with its top bit set": {
      const announcedLength = (1n << 63n) | rng.bigBits(40);
      return broken(
        choice,
        frameBytes(rng, {
          opcode: OPCODE.binary,
          announcedLength,
          lengthBits: 64,
          payload: payload(),
        }),
      );
    }
    case "close with a code that may not be sent": {
      const code = rng.pick([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]);
      assert.ok(!sendableCloseCode(code));
      return brokenClose(`close ${code}`, close([code >> 8, code & 0xff]));
    }
    case "close with a 1-byte payload":
      return brokenClose(choice, close([0x03]));
    default: {
      const bad = rng.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]);
      return brokenClose(choice, close([0x03, 0xe8, ...bad]));
    }
  }
}

/**
 * Waits for the server's Close (answered by FuzzConn) or the end of the connection,
 * then sends our FIN and waits for the end; returns the replies after `nonces`' pongs.
 */
async function ending(session: Session, nonces: bigint[]): Promise<string[]> {
  const conn = session.conn;
  await conn.until(
    () => conn.ended || conn.closeFrame !== undefined,
    "the server to fail the connection",
  );
  // A server that reads nothing after a violation cannot see our Close; our FIN it can.
  await conn.closeWrite();
  await conn.closed();
  conn.checkPongs();
  const own = session.ownReplies().map(describeMessage);
  same(own.slice(0, nonces.length), nonces.map((n) => `pong ${n}`), "the pongs before it");
  return own.slice(nonces.length);
}

/** A violation of RFC 6455 after some valid pings: the connection ends, nothing else is said. */
export async function violationCase(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> {
  const session = await Session.open(env, info, rng);
  const nonces = await pingsFirst(session, rng);
  const { label, bytes, ofClose } = violation(rng);
  const junk = rng.bool(0.3) ? rng.bytes(rng.int(1, 200)) : [];
  info.notes.push(`pings ${nonces}, then ${label}: ${hex(bytes, 40)}, ${junk.length} junk bytes`);
  for (const piece of rng.chunks(new Uint8Array([...bytes, ...junk]), rng.int(1, 3))) {
    await session.send(piece, 0, true);
  }
  const after = await ending(session, nonces);
  assert.ok(
    after.length === 0 || (after.length === 1 && VIOLATION_ERRORS.includes(after[0])),
    `what came after the ${label}: ${after}`,
  );
  const code = session.conn.closeFrame?.code;
  if (!ofClose && session.conn.closeFrame !== undefined) {
    assert.ok(
      code !== undefined && VIOLATION_CLOSE_CODES.includes(code),
      `the Close for ${label}: ${code}`,
    );
  }
}

/**
 * A text message, or a binary one over the frame limit (sent whole, or its first bytes
 * a while before the rest): a fatal error, the last message, and the end.
 */
export async function refusedMessageCase(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> {
  const session = await Session.open(env, info, rng);
  const nonces = await pingsFirst(session, rng);
  const text = rng.bool(0.4);
  const length = text ? rng.int(0, 300) : rng.weighted([
    [2, MAX_FRAME + 1],
    [2, rng.int(MAX_FRAME + 2, 3 * MAX_FRAME)],
    [1, rng.int(3 * MAX_FRAME, 100_000)],
  ]);
  const payload = text ? [...new TextEncoder().encode("x".repeat(length))] : rng.bytes(length);
  const pieces = rng.chunks(new Uint8Array(payload), rng.bool(0.3) ? rng.int(2, 4) : 1);
  if (pieces.length === 0) pieces.push(new Uint8Array());
  const bytes = pieces.flatMap((piece, i) =>
    frameBytes(rng, {
      opcode: i > 0 ? OPCODE.continuation : text ? OPCODE.text : OPCODE.binary,
      final: i === pieces.length - 1,
      payload: piece,
    })
  );
  const pause = rng.bool(0.3) ? rng.int(10, 50) : 0;
  info.notes.push(
    `pings ${nonces}, then a ${text ? "text" : "binary"} message of ${length} bytes in ` +
      `${pieces.length} frames${
        pause > 0 ? `, the first 16 bytes ${pause} ms before the rest` : ""
      }`,
  );
  if (pause > 0) {
    await session.send(bytes.slice(0, 16), 0, true);
    await delay(pause);
    await session.send(bytes.slice(16), 0, true);
  } else await session.send(bytes, 0, true);
  const after = await ending(session, nonces);
  const allowed = text
    ? ["error MALFORMED fatal seq=0"]
    : ["error FRAME_TOO_LARGE fatal seq=0", "error MALFORMED fatal seq=0"];
  // Only a reset (the server closed with our bytes unread) may lose the error.
  if (after.length === 0 && session.conn.reset) return;
  assert.ok(
    after.length === 1 && allowed.includes(after[0]),
    `after the ${text ? "text" : "oversize"} message: ${after}, expected one of ${allowed}`,
  );
}

/** Random bytes after the handshake: whatever happens, the server ends it after our FIN. */
export async function websocketRandomCase(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> {
  const session = await Session.open(env, info, rng);
  const valid = session.conn.encode(rng, rng.bool() ? [pingPayload(7n)] : []);
  const bytes = new Uint8Array([...valid, ...rng.bytes(rng.int(1, 3000))]);
  info.notes.push(`${valid.length} valid bytes, then ${bytes.length - valid.length} random ones`);
  for (const piece of rng.chunks(bytes, rng.int(1, 3))) await session.send(piece, 0, true);
  await session.conn.closeWrite();
  // No pongs are checked: the random bytes may hold pings of their own.
  await session.conn.closed();
  for (const reply of session.ownReplies()) {
    const body = reply.body;
    if (body.case !== "error") continue;
    assert.ok(
      ALLOWED_FRAME_ERRORS.has(body.value.code) || body.value.code === ErrorCode.FRAME_TOO_LARGE,
      `an error for random bytes: ${describeMessage(reply)}`,
    );
  }
}

const VALID_CHANGES = [
  "header names in lower case",
  "Upgrade in other case, Connection a list",
  "extra headers",
];
const REFUSED_CHANGES = [
  "version 8",
  "no version",
  "no key",
  "no Upgrade",
  "no Connection",
  "another upgrade",
  "another path",
  "POST",
];

/**
 * Opening handshakes: odd but valid ones get a 101 with the right accept and a
 * Welcome; broken ones get an HTTP client error and no session.
 */
export async function handshakeCase(env: CaseEnv, info: CaseInfo, rng: Rng): Promise<void> {
  const key = btoa(String.fromCharCode(...rng.bytes(16)));
  const headers = new Map<string, string>([
    ["Host", `127.0.0.1:${env.address.port}`],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", key],
    ["Sec-WebSocket-Version", "13"],
  ]);
  let path = "/ws";
  let method = "GET";
  let lowerCase = false;
  const change = rng.pick([...VALID_CHANGES, ...REFUSED_CHANGES]);
  switch (change) {
    case "header names in lower case":
      lowerCase = true;
      break;
    case "Upgrade in other case, Connection a list":
      headers.set("Upgrade", "WebSocket").set("Connection", "keep-alive, Upgrade");
      break;
    case "extra headers":
      headers.set("User-Agent", "fuzz").set("X-Fuzz", "x".repeat(rng.int(1, 2000)));
      break;
    case "no Connection":
      headers.delete("Connection");
      break;
    case "another upgrade":
      headers.set("Upgrade", "h2c");
      break;
    case "version 8":
      headers.set("Sec-WebSocket-Version", "8");
      break;
    case "no version":
      headers.delete("Sec-WebSocket-Version");
      break;
    case "no key":
      headers.delete("Sec-WebSocket-Key");
      break;
    case "no Upgrade":
      headers.delete("Upgrade");
      headers.set("Connection", "keep-alive");
      break;
    case "another path":
      path = rng.pick(["/wsx", "/ws/x", "/WS"]);
      break;
    default:
      method = "POST";
  }
  const valid = VALID_CHANGES.includes(change);
  const lines = [...headers].map(([n, v]) => `${lowerCase ? n.toLowerCase() : n}: ${v}\r\n`);
  const request = new TextEncoder().encode(`${method} ${path} HTTP/1.1\r\n${lines.join("")}\r\n`);
  info.notes.push(`a handshake with ${change}${valid ? "" : " (refused)"}`);
  const accept = valid ? await websocketAccept(key) : undefined;
  const conn = await openConn(env, info, { request, accept });
  await conn.until(() => conn.response !== undefined, "the answer to the handshake");
  const status = conn.response!.statusLine;
  if (valid) {
    assert.equal(conn.response!.status, 101, `the answer to a handshake with ${change}: ${status}`);
    await conn.until(() => conn.messages.length > 0, "the Welcome");
    assert.equal(conn.messages[0].body.case, "welcome");
  } else {
    assert.ok(
      conn.response!.status >= 400 && conn.response!.status < 500,
      `the answer to a handshake with ${change}: ${status}`,
    );
    // Time for a session to show itself, were one opened by mistake.
    await delay(20);
    same(conn.messages.map(describeMessage), [], `a session after a handshake with ${change}`);
  }
  same(conn.problems, [], "the server sent what it should not have");
}
