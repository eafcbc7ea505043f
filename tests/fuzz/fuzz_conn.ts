import type { ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { WebSocketOpcode as OPCODE } from "../../lib/net/websocket_opcode.ts";
import { decodeServerMessage } from "../../lib/protocol/codec.ts";
import { FrameDecoder } from "../../lib/protocol/frame_decoder.ts";
import { deadline } from "../support/deadline.ts";
import { HttpResponseHead } from "../support/http_response_head.ts";
import { websocketAccept } from "../support/websocket_accept.ts";
import { encodeClientFrame } from "../support/websocket_client_frame.ts";
import { type ServerFrame, ServerFrameReader } from "../support/websocket_server_frame_reader.ts";
import { describeMessage, hex } from "./describe.ts";
import { WAIT_MS } from "./fuzz_settings.ts";
import { paddedVarint, varint } from "./protobuf_wire.ts";
import type { Rng } from "./rng.ts";
import { count, type Stats } from "./stats.ts";

/** Where a fuzz connection goes: the chat port, or /ws on the HTTP port. */
export interface FuzzAddress {
  port: number;
  websocket: boolean;
}

/** A handshake of the case's own making, instead of the plain one. */
export interface Handshake {
  request: Uint8Array;
  /** The Sec-WebSocket-Accept a 101 must carry; undefined when the request makes it unclear. */
  accept: string | undefined;
}

/** Close codes an endpoint may send (RFC 6455 section 7.4, and the IANA registry). */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A raw fuzz connection: writes bytes exactly as told and records everything the
 * server sends. Over WebSocket it makes the opening handshake itself and reads the
 * server's frames with no library in between, judging them by RFC 6455.
 */
export class FuzzConn {
  readonly conn: Deno.TcpConn;
  readonly websocket: boolean;
  /** Every ServerMessage received, in order. */
  readonly messages: ServerMessage[] = [];
  /** Anything the server sent that it should not have. */
  readonly problems: string[] = [];
  /** The server closed (or reset) the connection. */
  ended = false;
  reset = false;
  readonly done: Promise<void>;
  /** WebSocket: the answer to the opening handshake, once its head has come. */
  response: HttpResponseHead | undefined;
  /** WebSocket: the payloads of the pings `encode` put in, and of the pongs that came back. */
  readonly pingsSent: number[][] = [];
  readonly pongs: number[][] = [];
  /** WebSocket: the server's Close frame. */
  closeFrame: { code: number | undefined; reason: string } | undefined;
  readonly #stats: Stats;
  readonly #listeners = new Set<() => void>();
  readonly #accept: string | undefined;
  #closed = false;
  /** Writes go out one after another, so that an answer to a Close never splits a write. */
  #writing: Promise<void> = Promise.resolve();
  #closeSent = false;
  #writeShut = false;
  #head: number[] = [];
  readonly #frames = new FrameDecoder(64 * 1024 * 1024);
  readonly #wsFrames = new ServerFrameReader();
  #fragments: Uint8Array[] | undefined;

  private constructor(
    conn: Deno.TcpConn,
    websocket: boolean,
    accept: string | undefined,
    stats: Stats,
  ) {
    this.conn = conn;
    this.websocket = websocket;
    this.#accept = accept;
    this.#stats = stats;
    conn.setNoDelay(true);
    this.done = this.#read();
  }

  /** Connects; over WebSocket, sends the handshake (the plain one unless given one). */
  static async open(address: FuzzAddress, stats: Stats, handshake?: Handshake): Promise<FuzzConn> {
    stats.connections++;
    let accept: string | undefined;
    let request: Uint8Array | undefined;
    if (address.websocket) {
      if (handshake === undefined) {
        const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
        request = new TextEncoder().encode(
          `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${address.port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        accept = await websocketAccept(key);
      } else ({ request, accept } = handshake);
    }
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: address.port });
    const fuzz = new FuzzConn(conn, address.websocket, accept, stats);
    if (request !== undefined) await fuzz.write(request);
    return fuzz;
  }

  /**
   * `payloads` as the transport frames them. TCP: a length prefix each, sometimes padded.
   * WebSocket: a masked binary message each, sometimes fragmented, with pings and
   * unasked-for pongs now and then, between messages or between fragments.
   */
  encode(rng: Rng, payloads: readonly number[][]): Uint8Array {
    const out: number[] = [];
    for (const payload of payloads) {
      if (!this.websocket) {
        const prefix = varint(payload.length);
        const size = rng.bool(0.1) ? rng.int(1, 5) : 0;
        out.push(...paddedVarint(payload.length, Math.max(prefix.length, size)), ...payload);
        continue;
      }
      if (rng.bool(0.05)) out.push(...this.#controlFrame(rng));
      const cuts = rng.bool(0.8)
        ? []
        : Array.from({ length: rng.int(1, 3) }, () => rng.int(0, payload.length)).sort((a, b) =>
          a - b
        );
      const pieces = [...cuts, payload.length].map((end, i) =>
        payload.slice(i === 0 ? 0 : cuts[i - 1], end)
      );
      pieces.forEach((piece, i) => {
        if (i > 0 && rng.bool(0.3)) out.push(...this.#controlFrame(rng));
        out.push(...encodeClientFrame({
          opcode: i === 0 ? OPCODE.binary : OPCODE.continuation,
          final: i === pieces.length - 1,
          payload: piece,
          mask: websocketMask(rng),
        }));
      });
    }
    return new Uint8Array(out);
  }

  /** A ping (its pong is awaited by `pongsAnswered`) or a pong no one asked for (ignored). */
  #controlFrame(rng: Rng): Uint8Array {
    const payload = rng.bytes(rng.weighted([[3, rng.int(0, 8)], [1, rng.int(9, 125)], [1, 125]]));
    const ping = rng.bool(0.7);
    if (ping) this.pingsSent.push(payload);
    return encodeClientFrame({
      opcode: ping ? OPCODE.ping : OPCODE.pong,
      payload,
      mask: websocketMask(rng),
    });
  }

  async write(bytes: Uint8Array, frames = 0): Promise<void> {
    const written = this.#writing.then(async () => {
      for (let at = 0; at < bytes.length;) {
        const count = await this.conn.write(bytes.subarray(at));
        at += count;
        this.#stats.bytes += count;
      }
      this.#stats.frames += frames;
    });
    this.#writing = written.catch(() => {});
    await written;
  }

  /** Writes and ignores failures: the server may rightly have closed already. */
  async writeMayFail(bytes: Uint8Array, frames = 0): Promise<void> {
    try {
      await this.write(bytes, frames);
    } catch {
      // Closed or reset by the server.
    }
  }

  /** TCP's FIN: nothing more comes from us. */
  async closeWrite(): Promise<void> {
    this.#writeShut = true;
    await this.#writing;
    try {
      await this.conn.closeWrite();
    } catch {
      // Already closed by the server.
    }
  }

  /** WebSocket: begins the closing handshake, or answers the server's. */
  async sendClose(code?: number): Promise<void> {
    if (this.#closeSent || this.#writeShut) return;
    this.#closeSent = true;
    const payload = code === undefined ? [] : [code >> 8, code & 0xff];
    await this.writeMayFail(encodeClientFrame({ opcode: OPCODE.close, payload }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Waits until `condition` holds; fails when the connection ends first, or after `ms`. */
  async until(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    if (condition()) return;
    let check: () => void = () => {};
    const reached = new Promise<void>((resolve, reject) => {
      check = () => {
        if (condition()) resolve();
        else if (this.ended) {
          reject(new Error(`connection ended before ${what}; ${this.summary()}`));
        }
      };
      this.#listeners.add(check);
      check();
    });
    try {
      await deadline(reached, ms, () => `${what}; ${this.summary()}`);
    } finally {
      this.#listeners.delete(check);
    }
  }

  /** Waits for the server to close the connection. */
  closed(what = "the server to close the connection"): Promise<void> {
    return this.until(() => this.ended, what);
  }

  /**
   * WebSocket: waits for the pong to the last ping `encode` sent, and checks the pongs.
   * A server may answer only the latest of the pings it has not answered yet (RFC 6455
   * section 5.5.3), but that one it must answer.
   */
  async pongsAnswered(): Promise<void> {
    if (!this.websocket || this.pingsSent.length === 0) return;
    const last = hex(this.pingsSent.at(-1)!);
    await this.until(
      () =>
        !echoesInOrder(this.pongs, this.pingsSent) ||
        (this.pongs.length > 0 && hex(this.pongs.at(-1)!) === last &&
          echoesInOrder(this.pongs.slice(0, -1), this.pingsSent.slice(0, -1))),
      "a pong to the last ping",
    );
    this.checkPongs();
  }

  /** WebSocket: every pong echoes a ping, in the pings' order; pings may go unanswered. */
  checkPongs(): void {
    if (echoesInOrder(this.pongs, this.pingsSent)) return;
    throw new Error(
      `the pongs do not echo the pings in order: sent ${
        this.pingsSent.map((p) => `[${hex(p, 12)}]`)
      }, got ${this.pongs.map((p) => `[${hex(p, 12)}]`)}`,
    );
  }

  summary(): string {
    const shown = this.messages.slice(-12).map(describeMessage).join(", ");
    const ws = this.websocket
      ? `; handshake: ${this.response?.statusLine ?? "no answer"}, pongs ${this.pongs.length} ` +
        `of ${this.pingsSent.length}` +
        (this.closeFrame === undefined ? "" : `, close ${this.closeFrame.code ?? "(no code)"}`)
      : "";
    return `received ${this.messages.length} messages (last: ${shown})${ws}` +
      (this.ended ? `, ended${this.reset ? " by reset" : ""}` : "");
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const count = await this.conn.read(buffer);
        if (count === null) break;
        try {
          this.#receive(buffer.subarray(0, count));
        } catch (error) {
          this.problems.push(`unreadable output: ${error}`);
          break;
        }
        this.#notify();
      }
    } catch {
      if (!this.#closed) this.reset = true;
    } finally {
      this.ended = true;
      this.close();
      this.#notify();
    }
  }

  #receive(bytes: Uint8Array): void {
    if (!this.websocket) {
      this.#frames.push(bytes, (payload) => this.#message(payload));
      return;
    }
    if (this.response === undefined) {
      this.#head.push(...bytes);
      const head = HttpResponseHead.parse(new Uint8Array(this.#head));
      if (head === undefined) return;
      this.response = head;
      bytes = new Uint8Array(this.#head.slice(head.size));
      this.#head = [];
      if (head.status === 101) this.#checkUpgrade(head);
    }
    // What follows a refusal is its body, the page that explains it.
    if (this.response.status === 101) this.#wsFrames.push(bytes, (frame) => this.#frame(frame));
  }

  #checkUpgrade(head: HttpResponseHead): void {
    if (head.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      this.problems.push(`a 101 without "Upgrade: websocket": ${head.headers.get("upgrade")}`);
    }
    if (!/\bupgrade\b/i.test(head.headers.get("connection") ?? "")) {
      this.problems.push(`a 101 without "Connection: Upgrade": ${head.headers.get("connection")}`);
    }
    if (this.#accept !== undefined && head.headers.get("sec-websocket-accept") !== this.#accept) {
      this.problems.push(
        `Sec-WebSocket-Accept ${
          head.headers.get("sec-websocket-accept")
        }, expected ${this.#accept}`,
      );
    }
    // We offered no extension and no subprotocol: the server may not pick one.
    for (const name of ["sec-websocket-extensions", "sec-websocket-protocol"]) {
      if (head.headers.has(name)) this.problems.push(`${name}: ${head.headers.get(name)} unasked`);
    }
  }

  #message(payload: Uint8Array): void {
    try {
      this.messages.push(decodeServerMessage(payload));
    } catch (error) {
      this.problems.push(`undecodable frame ${hex(payload)}: ${error}`);
    }
  }

  /** One server frame, judged by RFC 6455. */
  #frame(frame: ServerFrame): void {
    const what = `opcode ${frame.opcode}${
      frame.final ? "" : " (not final)"
    }, ${frame.payload.length} bytes`;
    if (this.closeFrame !== undefined) this.problems.push(`a frame after the Close: ${what}`);
    if (frame.masked) this.problems.push(`a masked server frame: ${what}`);
    if (frame.reserved !== 0) this.problems.push(`reserved bits ${frame.reserved} set: ${what}`);
    if (frame.opcode >= OPCODE.close && (!frame.final || frame.payload.length > 125)) {
      this.problems.push(`a fragmented or long control frame: ${what}`);
    }
    switch (frame.opcode) {
      case OPCODE.binary:
      case OPCODE.continuation: {
        const first = frame.opcode === OPCODE.binary;
        if (first === (this.#fragments !== undefined)) {
          this.problems.push(
            `a ${first ? "new message inside another" : "continuation of nothing"}: ${what}`,
          );
          this.#fragments = undefined;
          return;
        }
        if (frame.final && first) return this.#message(frame.payload);
        (this.#fragments ??= []).push(frame.payload);
        if (!frame.final) return;
        const whole = new Uint8Array(this.#fragments.reduce((n, f) => n + f.length, 0));
        let at = 0;
        for (const fragment of this.#fragments) {
          whole.set(fragment, at);
          at += fragment.length;
        }
        this.#fragments = undefined;
        return this.#message(whole);
      }
      case OPCODE.pong:
        this.pongs.push([...frame.payload]);
        this.#stats.websocketPongs++;
        return;
      case OPCODE.ping:
        // Nothing here runs long enough for a server's keep-alive pings to matter.
        return;
      case OPCODE.close:
        return this.#closeReceived(frame.payload);
      default:
        this.problems.push(`a frame the server may not send: ${what}`);
    }
  }

  #closeReceived(payload: Uint8Array): void {
    if (this.closeFrame !== undefined) return;
    let code: number | undefined;
    let reason = "";
    if (payload.length === 1) this.problems.push("a Close with a 1-byte payload");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!sendableCloseCode(code)) {
        this.problems.push(`a Close with code ${code}, which may not be sent`);
      }
      try {
        reason = strictUtf8.decode(payload.subarray(2));
      } catch {
        this.problems.push(`a Close whose reason is not UTF-8: ${hex(payload)}`);
      }
    }
    this.closeFrame = { code, reason };
    count(this.#stats.closeCodes, String(code ?? "none"));
    // The RFC's answer: a Close back, with the same code.
    this.sendClose(code);
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** Whether `pongs` echo some of `pings`, in their order. */
function echoesInOrder(pongs: readonly number[][], pings: readonly number[][]): boolean {
  let at = 0;
  for (const pong of pongs) {
    const payload = hex(pong);
    while (at < pings.length && hex(pings[at]) !== payload) at++;
    if (at === pings.length) return false;
    at++;
  }
  return true;
}

/** A random masking key; now and then all zeros, which leaves the payload as it is. */
export function websocketMask(rng: Rng): Uint8Array {
  return new Uint8Array(rng.bool(0.05) ? [0, 0, 0, 0] : rng.bytes(4));
}
