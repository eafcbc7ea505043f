import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import fc from "fast-check";
import {
  Action,
  type ChatEvent,
  ChatEventSchema,
  type RoomJoined,
  RoomJoinedSchema,
} from "../../gen/chat/v1/chat_pb.ts";
import { RoomTracker, type TrackedOutput } from "../../lib/client/room_tracker.ts";

const LOBBY = "#lobby";

function live(room: string, eventId: number, content = `m${eventId}`): ChatEvent {
  return create(ChatEventSchema, {
    action: Action.BROADCAST,
    room: room === LOBBY ? "" : room,
    eventId: BigInt(eventId),
    content,
  });
}

function old(room: string, eventId: number): ChatEvent {
  return { ...live(room, eventId), history: true };
}

function joined(room: string, fields: Partial<Omit<RoomJoined, "$typeName">> = {}): RoomJoined {
  return create(RoomJoinedSchema, { room, ...fields });
}

/** `#dev:3`, `gap #dev:2`, `echo:text`: what was shown, in a form easy to compare. */
function shown(outputs: TrackedOutput[]): string[] {
  return outputs.map((output) =>
    output.kind === "gap"
      ? `gap ${output.room}:${output.missed}`
      : output.room === undefined
      ? `${Action[output.event.action].toLowerCase()}:${output.event.content}`
      : `${output.room}:${output.event.eventId}`
  );
}

Deno.test("RoomTracker - a first connect joins the lobby for its history, without resume", () => {
  const tracker = new RoomTracker();
  assert.equal(tracker.current, LOBBY);
  assert.deepEqual(tracker.rooms, [LOBBY]);
  assert.deepEqual(tracker.connected(), {
    joins: [{ room: LOBBY, resume: false, lastEventId: 0n }],
    partLobby: false,
  });
  assert.ok(tracker.isJoining(LOBBY));
});

Deno.test("RoomTracker - live events that come before the join's history are shown after it, each once, in order", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  // Followed from connect time: 11 and 12 come first, the join's history (the last three,
  // 10 to 12) after them.
  assert.deepEqual(tracker.chat(live(LOBBY, 11)), []);
  assert.deepEqual(tracker.chat(live(LOBBY, 12)), []);
  for (const id of [10, 11, 12]) assert.deepEqual(tracker.chat(old(LOBBY, id)), []);
  // One more live message before RoomJoined.
  assert.deepEqual(tracker.chat(live(LOBBY, 13)), []);
  assert.deepEqual(shown(tracker.joined(joined(LOBBY, { historyCount: 3 }))), [
    "#lobby:10",
    "#lobby:11",
    "#lobby:12",
    "#lobby:13",
  ]);
  assert.deepEqual(shown(tracker.chat(live(LOBBY, 14))), ["#lobby:14"]);
  // A repeat is not shown again.
  assert.deepEqual(tracker.chat(live(LOBBY, 14)), []);
  assert.equal(tracker.lastEventId(LOBBY), 14n);
});

Deno.test("RoomTracker - echo, private and unnumbered messages are shown at once, even during a join", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  const echo = create(ChatEventSchema, { action: Action.ECHO, content: "e" });
  const whisper = create(ChatEventSchema, { action: Action.PRIVATE, content: "p" });
  assert.deepEqual(shown(tracker.chat(echo)), ["echo:e"]);
  assert.deepEqual(shown(tracker.chat(whisper)), ["private:p"]);
  // An older server numbers nothing and answers no join: its broadcasts still show.
  assert.deepEqual(shown(tracker.chat(live(LOBBY, 0))), ["#lobby:0"]);
  assert.deepEqual(shown(tracker.chat(live(LOBBY, 0))), ["#lobby:0"]);
});

Deno.test("RoomTracker - after a reconnect every room is resumed from the last message shown there", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  tracker.chat(old(LOBBY, 4));
  tracker.joined(joined(LOBBY));
  assert.deepEqual(tracker.join("#Dev"), { room: "#dev", resume: false, lastEventId: 0n });
  assert.equal(tracker.current, "#dev");
  tracker.joined(joined("#dev"));
  tracker.chat(live("#dev", 1));
  tracker.chat(live("#dev", 2));
  assert.deepEqual(tracker.join("#ops"), { room: "#ops", resume: false, lastEventId: 0n });
  tracker.disconnected();
  // #ops was never joined: it is joined afresh, not resumed from nothing.
  assert.deepEqual(tracker.connected(), {
    joins: [
      { room: LOBBY, resume: true, lastEventId: 4n },
      { room: "#dev", resume: true, lastEventId: 2n },
      { room: "#ops", resume: false, lastEventId: 0n },
    ],
    partLobby: false,
  });
  // What was missed, and no more.
  tracker.chat(old("#dev", 3));
  tracker.chat(live("#dev", 4));
  tracker.chat(old("#dev", 4));
  assert.deepEqual(shown(tracker.joined(joined("#dev"))), ["#dev:3", "#dev:4"]);
});

Deno.test("RoomTracker - lost messages make one gap notice naming their count, not repeated on the next resume", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  tracker.chat(old(LOBBY, 5));
  tracker.joined(joined(LOBBY));
  tracker.disconnected();
  tracker.connected();
  // Messages 6 to 20 were sent; the server keeps 16 to 20 only.
  for (const id of [16, 17, 18, 19, 20]) tracker.chat(old(LOBBY, id));
  assert.deepEqual(shown(tracker.joined(joined(LOBBY, { missed: 10n }))), [
    "gap #lobby:10",
    "#lobby:16",
    "#lobby:17",
    "#lobby:18",
    "#lobby:19",
    "#lobby:20",
  ]);
  tracker.disconnected();
  assert.deepEqual(tracker.connected().joins, [{ room: LOBBY, resume: true, lastEventId: 20n }]);
  // Everything lost and nothing kept: the count alone, and the next resume starts after it.
  tracker.disconnected();
  tracker.connected();
  assert.deepEqual(shown(tracker.joined(joined(LOBBY, { missed: 3n }))), ["gap #lobby:3"]);
  tracker.disconnected();
  assert.deepEqual(tracker.connected().joins, [{ room: LOBBY, resume: true, lastEventId: 23n }]);
});

Deno.test("RoomTracker - live messages held during a resume narrow the gap the server names", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  tracker.chat(old(LOBBY, 5));
  tracker.joined(joined(LOBBY));
  tracker.disconnected();
  tracker.connected();
  // The server keeps 19 and 20 only, so it names 13 lost (6 to 18); but 11 to 18 came live.
  for (const id of [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]) tracker.chat(live(LOBBY, id));
  tracker.chat(old(LOBBY, 19));
  tracker.chat(old(LOBBY, 20));
  const out = shown(tracker.joined(joined(LOBBY, { missed: 13n })));
  assert.deepEqual(out.slice(0, 2), ["gap #lobby:5", "#lobby:11"]);
  assert.equal(out.at(-1), "#lobby:20");
  assert.equal(out.length, 11);
});

Deno.test("RoomTracker - /history asks for messages older than any shown, and a second request does not overlap the first", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  for (const id of [40, 41, 42]) tracker.chat(old(LOBBY, id));
  tracker.joined(joined(LOBBY, { moreHistory: true }));
  assert.deepEqual(tracker.history(10), { room: LOBBY, beforeEventId: 40n, count: 10 });
  assert.deepEqual(tracker.history(0), { room: LOBBY, beforeEventId: 30n, count: 50 });
  // The first answer: 30 to 39, oldest first, all shown though older than the last shown.
  const first = Array.from({ length: 10 }, (_, i) => old(LOBBY, 30 + i));
  assert.deepEqual(first.flatMap((event) => shown(tracker.chat(event))).length, 10);
  tracker.historyEnd(LOBBY);
  const second = Array.from({ length: 29 }, (_, i) => old(LOBBY, 1 + i));
  assert.equal(second.flatMap((event) => shown(tracker.chat(event))).length, 29);
  tracker.historyEnd(LOBBY);
  // Paging back moves nothing forward: live messages go on from 42.
  assert.equal(tracker.lastEventId(LOBBY), 42n);
  assert.deepEqual(tracker.history(5), { room: LOBBY, beforeEventId: 1n, count: 5 });
});

Deno.test("RoomTracker - a /history answer does not show again what is already shown", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  tracker.joined(joined(LOBBY));
  // Asked before any message was shown: the newest come, one of them shown meanwhile.
  assert.deepEqual(tracker.history(5), { room: LOBBY, beforeEventId: 0n, count: 5 });
  assert.deepEqual(shown(tracker.chat(live(LOBBY, 3))), ["#lobby:3"]);
  const answer = [1, 2, 3].flatMap((id) => shown(tracker.chat(old(LOBBY, id))));
  assert.deepEqual(answer, ["#lobby:1", "#lobby:2"]);
  tracker.historyEnd(LOBBY);
  assert.deepEqual(tracker.history(5), { room: LOBBY, beforeEventId: 1n, count: 5 });
  // A room the client is not in: asked anyway, for the server to say so.
  assert.deepEqual(tracker.history(0, "#gone"), { room: "#gone", beforeEventId: 0n, count: 50 });
});

Deno.test("RoomTracker - parting the current room moves to the room joined last; a parted room is not resumed, a parted lobby is left again", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  tracker.joined(joined(LOBBY));
  tracker.join("#a");
  tracker.joined(joined("#a"));
  tracker.join("#b");
  tracker.joined(joined("#b"));
  assert.ok(tracker.select("#a"));
  assert.equal(tracker.current, "#a");
  assert.ok(!tracker.select("#nowhere"));
  tracker.part("#a");
  assert.equal(tracker.current, "#b");
  assert.deepEqual(tracker.rooms, [LOBBY, "#b"]);
  // Until RoomParted, what is on its way from #a still shows; after it, nothing does.
  assert.deepEqual(shown(tracker.chat(live("#a", 1))), ["#a:1"]);
  tracker.parted("#a");
  assert.deepEqual(tracker.chat(live("#a", 2)), []);
  tracker.part(LOBBY);
  tracker.parted(LOBBY);
  tracker.part("#b");
  assert.equal(tracker.current, undefined);
  // An older server refuses the part: still in #b.
  tracker.partFailed("#b");
  assert.equal(tracker.current, "#b");
  tracker.disconnected();
  assert.deepEqual(tracker.connected(), {
    joins: [{ room: "#b", resume: true, lastEventId: 0n }],
    partLobby: true,
  });
  // The lobby the new session is put in does not show.
  assert.deepEqual(tracker.chat(live(LOBBY, 9)), []);
});

Deno.test("RoomTracker - a refused join shows what it held and forgets the room, but never the lobby", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  tracker.chat(live(LOBBY, 3));
  // An older server answers the lobby's join with UNSUPPORTED.
  assert.deepEqual(shown(tracker.joinFailed(LOBBY)), ["#lobby:3"]);
  assert.deepEqual(tracker.rooms, [LOBBY]);
  tracker.join("#full");
  assert.equal(tracker.current, "#full");
  tracker.joinFailed("#full");
  assert.deepEqual(tracker.rooms, [LOBBY]);
  assert.equal(tracker.current, LOBBY);
});

Deno.test("RoomTracker - a join that never ends holds no more than maxHeld messages", () => {
  const tracker = new RoomTracker({ maxHeld: 3 });
  tracker.connected();
  for (const id of [1, 2, 3]) assert.deepEqual(tracker.chat(live(LOBBY, id)), []);
  assert.deepEqual(shown(tracker.chat(live(LOBBY, 4))), [
    "#lobby:1",
    "#lobby:2",
    "#lobby:3",
    "#lobby:4",
  ]);
  assert.deepEqual(shown(tracker.chat(live(LOBBY, 5))), ["#lobby:5"]);
});

// ------------------------------------------------------------------ property

/** A frame on its way from the model server to one client, in order. */
type Frame =
  | { kind: "chat"; event: ChatEvent }
  /** snapshot: the room's newest id when the server read the history for this join. */
  | { kind: "joined"; joined: RoomJoined; snapshot: number };

interface ModelClient {
  readonly tracker: RoomTracker;
  readonly wantsDev: boolean;
  connected: boolean;
  everConnected: boolean;
  /** Rooms the server delivers live messages of, on this connection. */
  readonly following: Set<string>;
  /** Joins sent, not yet read by the server. */
  readonly joinsSent: { room: string; resume: boolean; lastEventId: bigint }[];
  /** Joins read, whose history and RoomJoined are not queued yet (a history read). */
  readonly replies: Frame[][];
  readonly inbound: Frame[];
  /** Everything the tracker gave out, per room. */
  readonly outputs: Map<string, TrackedOutput[]>;
  /** Per room, the snapshot of the first join answered: messages after it must all be shown. */
  readonly firstJoin: Map<string, number>;
}

type Step =
  | { kind: "send"; room: number }
  | { kind: "read_join"; client: number }
  | { kind: "queue_reply"; client: number }
  | { kind: "deliver"; client: number; count: number }
  | { kind: "disconnect"; client: number }
  | { kind: "connect"; client: number };

const ROOMS = [LOBBY, "#dev"];

Deno.test("RoomTracker - property: any sequence of messages and disconnects gives every client every message exactly once, in order, or a gap notice naming the count", () => {
  const clientCount = 3;
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: fc.nat(ROOMS.length - 1).map((room) => ({ kind: "send", room })) },
    {
      weight: 2,
      arbitrary: fc.nat(clientCount - 1).map((client) => ({ kind: "read_join", client })),
    },
    {
      weight: 2,
      arbitrary: fc.nat(clientCount - 1).map((client) => ({ kind: "queue_reply", client })),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("deliver" as const),
        client: fc.nat(clientCount - 1),
        count: fc.integer({ min: 1, max: 5 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.nat(clientCount - 1).map((client) => ({ kind: "disconnect", client })),
    },
    {
      weight: 2,
      arbitrary: fc.nat(clientCount - 1).map((client) => ({ kind: "connect", client })),
    },
  ) as fc.Arbitrary<Step>;
  const settings = fc.record({
    // The server keeps the last `kept` messages of a room, and sends `onJoin` of them on a join.
    kept: fc.integer({ min: 1, max: 12 }),
    onJoin: fc.integer({ min: 0, max: 5 }),
    wantsDev: fc.array(fc.boolean(), { minLength: clientCount, maxLength: clientCount }),
  });

  fc.assert(
    fc.property(settings, fc.array(step, { maxLength: 150, size: "max" }), (setting, steps) => {
      const onJoin = Math.min(setting.onJoin, setting.kept);
      const newest = new Map(ROOMS.map((room) => [room, 0]));
      const clients: ModelClient[] = setting.wantsDev.map((wantsDev) => ({
        tracker: new RoomTracker(),
        wantsDev,
        connected: false,
        everConnected: false,
        following: new Set(),
        joinsSent: [],
        replies: [],
        inbound: [],
        outputs: new Map(ROOMS.map((room) => [room, []])),
        firstJoin: new Map(),
      }));

      const readJoin = (client: ModelClient) => {
        const join = client.joinsSent.shift();
        if (join === undefined) return;
        const n = newest.get(join.room)!;
        const oldestKept = Math.max(1, n - setting.kept + 1);
        let from: number;
        let missed = 0;
        if (join.resume) {
          const after = Number(join.lastEventId);
          from = Math.max(after + 1, oldestKept);
          missed = Math.max(0, oldestKept - (after + 1));
        } else from = Math.max(oldestKept, n - onJoin + 1);
        const frames: Frame[] = [];
        for (let id = from; id <= n; id++) {
          frames.push({ kind: "chat", event: old(join.room, id) });
        }
        frames.push({
          kind: "joined",
          joined: joined(join.room, { historyCount: frames.length, missed: BigInt(missed) }),
          snapshot: n,
        });
        client.following.add(join.room);
        client.replies.push(frames);
      };
      const deliver = (client: ModelClient, count: number) => {
        for (const frame of client.inbound.splice(0, count)) {
          let out: TrackedOutput[];
          if (frame.kind === "chat") out = client.tracker.chat(frame.event);
          else {
            const room = frame.joined.room;
            if (!client.firstJoin.has(room)) client.firstJoin.set(room, frame.snapshot);
            out = client.tracker.joined(frame.joined);
          }
          for (const output of out) {
            assert.ok(output.room !== undefined);
            client.outputs.get(output.room)!.push(output);
          }
        }
      };
      const connect = (client: ModelClient) => {
        if (client.connected) return;
        client.connected = true;
        // Every session is in the lobby from the start.
        client.following.add(LOBBY);
        const { joins, partLobby } = client.tracker.connected();
        assert.equal(partLobby, false);
        client.joinsSent.push(...joins);
        if (!client.everConnected && client.wantsDev) {
          client.joinsSent.push(client.tracker.join("#dev"));
        }
        client.everConnected = true;
      };

      for (const step of steps) {
        switch (step.kind) {
          case "send": {
            const room = ROOMS[step.room];
            const id = newest.get(room)! + 1;
            newest.set(room, id);
            for (const client of clients) {
              if (client.connected && client.following.has(room)) {
                client.inbound.push({ kind: "chat", event: live(room, id) });
              }
            }
            break;
          }
          case "read_join":
            if (clients[step.client].connected) readJoin(clients[step.client]);
            break;
          case "queue_reply": {
            const client = clients[step.client];
            const reply = client.replies.shift();
            if (reply !== undefined) client.inbound.push(...reply);
            break;
          }
          case "deliver":
            deliver(clients[step.client], step.count);
            break;
          case "disconnect": {
            const client = clients[step.client];
            if (!client.connected) break;
            client.connected = false;
            client.following.clear();
            client.joinsSent.length = 0;
            client.replies.length = 0;
            client.inbound.length = 0;
            client.tracker.disconnected();
            break;
          }
          case "connect":
            connect(clients[step.client]);
            break;
        }
      }
      // In the end everyone is connected and every frame arrives.
      for (const client of clients) {
        connect(client);
        while (client.joinsSent.length > 0) readJoin(client);
        for (const reply of client.replies.splice(0)) client.inbound.push(...reply);
        deliver(client, Infinity);
      }

      for (const [index, client] of clients.entries()) {
        for (const room of ROOMS) {
          const what = `client ${index}, ${room}: ${shown(client.outputs.get(room)!).join(" ")}`;
          const inRoom = room === LOBBY || client.wantsDev;
          if (!inRoom) {
            assert.equal(client.outputs.get(room)!.length, 0, what);
            continue;
          }
          // Each message shown follows the one before it, or the gap notices between them.
          let accounted: number | undefined;
          let firstShown: number | undefined;
          for (const output of client.outputs.get(room)!) {
            if (output.kind === "gap") {
              assert.ok(output.missed > 0n, what);
              accounted = (accounted ?? 0) + Number(output.missed);
              continue;
            }
            const id = Number(output.event.eventId);
            if (accounted !== undefined) assert.equal(id, accounted + 1, what);
            // A first join shows from anywhere in the history; after a gap, the gap says.
            if (accounted === undefined) firstShown = id;
            accounted = id;
          }
          // Every message sent after the first join was read is shown or counted in a gap.
          const joinedAt = client.firstJoin.get(room);
          assert.ok(joinedAt !== undefined, what);
          const n = newest.get(room)!;
          if (n > joinedAt) {
            assert.equal(accounted, n, what);
            assert.ok(firstShown === undefined || firstShown <= joinedAt + 1, what);
          }
        }
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("RoomTracker - a room whose numbering began again (its last id below the one shown) shows the new ids", () => {
  const tracker = new RoomTracker();
  tracker.connected();
  tracker.joined(joined(LOBBY));
  for (const id of [1, 2, 3]) tracker.chat(live(LOBBY, id));
  tracker.disconnected();
  const { joins } = tracker.connected();
  assert.deepEqual(joins.map((join) => [join.room, join.lastEventId]), [[LOBBY, 3n]]);
  // The server lost the room's history (a new file, say): its newest id is 1.
  assert.deepEqual(tracker.chat(old(LOBBY, 1)), []);
  assert.deepEqual(shown(tracker.joined(joined(LOBBY, { lastEventId: 1n }))), ["#lobby:1"]);
  assert.deepEqual(shown(tracker.chat(live(LOBBY, 2))), ["#lobby:2"], "id 2 of the new numbering");
});
