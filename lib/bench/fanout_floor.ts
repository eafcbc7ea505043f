/**
 * `deno task bench:fanout-floor`: the chat server's fan-out design with nothing else, for
 * the native load generator (`../shared/bench/compare.sh`), so BENCHMARKS.md can say how
 * much of a figure is the design on Deno and how much the server around it.
 *
 * It speaks just enough of the protocol for the load generator: a Welcome on connect, and
 * every chat request relayed as a chat event to everyone. No sessions, limits, presence,
 * backpressure or hub: broadcasts go into a BroadcastLog, and a pass after each task that
 * appended writes every connection's new frames through an OutboundQueue, as the server's
 * do (one write in flight each, WriteSlots in turn), and lets the log go of what all have.
 *
 *   SERVER="deno run -A lib/bench/fanout_floor.ts" ../shared/bench/compare.sh broadcast -c 1000 -w 1
 */
import { Command } from "commander";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { decodeClientMessage, encodeServerMessage } from "../protocol/codec.ts";
import { FrameDecoder } from "../protocol/frame_decoder.ts";
import { BroadcastLog } from "../net/broadcast_log.ts";
import { OutboundQueue } from "../net/outbound_queue.ts";
import { writeAll } from "../net/write_all.ts";

const program = new Command()
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option("--port <port>", "port to listen on", "8080")
  // compare.sh also passes the chat server's other flags (--http-port 0): ignored.
  .allowUnknownOption()
  .allowExcessArguments()
  .parse(Deno.args, { from: "user" });
const { host, port } = program.opts<{ host: string; port: string }>();

const queues = new Set<OutboundQueue>();
let passDue = false;
const log = new BroadcastLog(schedulePass);

function schedulePass(): void {
  if (passDue) return;
  passDue = true;
  queueMicrotask(() => {
    passDue = false;
    let oldest = log.head;
    for (const queue of queues) {
      queue.writeLog();
      oldest = Math.min(oldest, queue.unwritten(log) ?? oldest);
    }
    log.release(oldest);
  });
}

let sessions = 0n;
const listener = Deno.listen({ hostname: host, port: Number(port) });
console.log(`listening on ${listener.addr.hostname}:${listener.addr.port}`);
for await (const conn of listener) serve(conn);

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const sessionId = ++sessions;
  const queue = new OutboundQueue(
    { write: (framed) => writeEach(conn, framed) },
    { writeFailed: () => conn.close() },
  );
  queue.push(encodeServerMessage({ body: { case: "welcome", value: { sessionId } } }));
  queue.follow(log);
  queues.add(queue);
  const decoder = new FrameDecoder(65536);
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (let count = await conn.read(buffer); count !== null; count = await conn.read(buffer)) {
      decoder.push(buffer.subarray(0, count), (payload) => {
        const body = decodeClientMessage(payload).body;
        if (body.case !== "chat" || body.value.action !== Action.BROADCAST) return;
        log.append(encodeServerMessage({
          body: {
            case: "chat",
            value: {
              action: Action.BROADCAST,
              content: body.value.content,
              fromSessionId: sessionId,
              clientSeq: body.value.clientSeq,
              sentAtUnixMs: BigInt(Date.now()),
            },
          },
        }));
        schedulePass();
      });
    }
  } catch {
    // The load generator resets its connections at the end.
  } finally {
    queues.delete(queue);
    queue.stop();
    conn.close();
  }
}

async function writeEach(conn: Deno.TcpConn, framed: readonly Uint8Array[]): Promise<void> {
  // Read now: the queue reuses the array once this returns.
  const runs = framed.slice();
  for (const run of runs) await writeAll(conn, run);
}
