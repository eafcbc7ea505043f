/**
 * `deno task bench:micro`: what keeping history costs (lib/server/history/sqlite_history.ts).
 * `append` sits on the broadcast path, so it only queues; the batch is written once per
 * few milliseconds in one transaction. These measure both halves, 1,000 messages a run.
 */
import { Action } from "../../../gen/chat/v1/chat_pb.ts";
import { writeChatEvent } from "../../protocol/chat_event_writer.ts";
import { SqliteHistory } from "../../server/history/sqlite_history.ts";

const MESSAGES = 1000;
const dir = Deno.makeTempDirSync({ prefix: "sqlite_history_bench_" });
const history = SqliteHistory.open({ dataDir: dir, historySize: 1000 });
const chatEvent = writeChatEvent({
  action: Action.BROADCAST,
  content: "x".repeat(32),
  fromSessionId: 1814n,
  fromNickname: "alice",
  clientSeq: 12345n,
  sentAtUnixMs: 1_764_000_000_000n,
})!;
addEventListener("unload", () => {
  history[Symbol.asyncDispose]();
  Deno.removeSync(dir, { recursive: true });
});

Deno.bench(
  "sqlite history - 1,000 appends to one room, then the flush (one transaction)",
  { group: "sqlite history", baseline: true },
  () => {
    for (let i = 0; i < MESSAGES; i++) history.append("lobby", chatEvent, Date.now());
    history.flush();
  },
);

Deno.bench(
  "sqlite history - 1,000 appends over 100 rooms, then the flush",
  { group: "sqlite history" },
  () => {
    for (let i = 0; i < MESSAGES; i++) history.append(`room ${i % 100}`, chatEvent, Date.now());
    history.flush();
  },
);

Deno.bench("sqlite history - 1,000 appends, queued only (the broadcast path's share)", (b) => {
  b.start();
  for (let i = 0; i < MESSAGES; i++) history.append("queued", chatEvent, Date.now());
  b.end();
  history.flush();
});
