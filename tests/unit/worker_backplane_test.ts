import assert from "node:assert/strict";
import { FakeMember } from "../support/fake_member.ts";
import { ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import type { BackplaneListener, HubEvent } from "../../lib/server/backplane.ts";
import { NicknameCoordinator } from "../../lib/server/workers/nickname_coordinator.ts";
import { WorkerBackplane } from "../../lib/server/workers/worker_backplane.ts";
import type { WorkerToMain } from "../../lib/server/workers/worker_messages.ts";
import { deadline } from "../support/deadline.ts";
import { Hub } from "../support/immediate_hub.ts";
import { nicknameKey } from "../../lib/protocol/nickname.ts";

/** A worker backplane that lets a test wait for the events it brings. */
class ObservedBackplane extends WorkerBackplane {
  readonly received: HubEvent[] = [];
  #wake: (() => void) | undefined;

  override start(listener: BackplaneListener): void {
    super.start(
      new Proxy(listener, {
        get: (target, property) => {
          if (property !== "remote") return Reflect.get(target, property);
          return (event: HubEvent) => {
            target.remote(event);
            this.received.push(event);
            this.#wake?.();
          };
        },
      }),
    );
  }

  /** Waits until an event that satisfies `test` came in. */
  async receivedOne(test: (event: HubEvent) => boolean): Promise<void> {
    const arrived = (async () => {
      while (!this.received.some(test)) {
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
    })();
    await deadline(
      arrived,
      5000,
      () => `an event; got ${JSON.stringify(this.received.map((e) => e.kind))}`,
    );
  }
}

/** Two workers of one process, and the main thread's coordinator answering them in turn. */
function twoWorkers() {
  const { port1, port2 } = new MessageChannel();
  const coordinator = new NicknameCoordinator();
  const backplanes: ObservedBackplane[] = [];
  const main = (worker: number) => (message: WorkerToMain) => {
    // postMessage is asynchronous: so is the answer here.
    queueMicrotask(() => {
      if (message.type === "claim") {
        backplanes[worker - 1].claimAnswered(
          message.id,
          coordinator.claim(message.key, message.holder, message.previousKey),
        );
      } else if (message.type === "release") coordinator.release(message.holder);
    });
  };
  backplanes.push(new ObservedBackplane(1, [port1], main(1)));
  backplanes.push(new ObservedBackplane(2, [port2], main(2)));
  const hubs = backplanes.map((backplane) => new Hub(backplane));
  return {
    coordinator,
    backplanes,
    hubs,
    async [Symbol.asyncDispose]() {
      for (const hub of hubs) hub.flush();
      for (const backplane of backplanes) await backplane[Symbol.asyncDispose]();
    },
  };
}

Deno.test("worker backplane - presence, who and broadcasts cross workers; nicknames are claimed once", async () => {
  await using workers = twoWorkers();
  const [one, two] = workers.hubs;
  const [planeOne, planeTwo] = workers.backplanes;
  const alice = new FakeMember(1001n);
  const bob = new FakeMember(1002n);
  one.join(alice);
  two.join(bob);
  await planeTwo.receivedOne((event) => event.kind === "joined");
  await planeOne.receivedOne((event) => event.kind === "joined");
  assert.deepEqual(one.who().map((user) => user.sessionId).sort(), [1001n, 1002n]);
  assert.deepEqual(two.who().map((user) => user.sessionId).sort(), [1001n, 1002n]);
  assert.equal(planeTwo.received[0].kind, "joined");

  one.broadcast({ body: { case: "chat", value: { content: "hi", fromSessionId: 1001n } } });
  await planeTwo.receivedOne((event) => event.kind === "chat");
  two.flush();
  const chat = bob.messages().find((message) => message.body.case === "chat");
  assert.equal(chat?.body.case === "chat" && chat.body.value.content, "hi");

  // Both at once: neither hub knows of the other's claim, the coordinator decides.
  const [first, second] = await Promise.all([one.rename(alice, "sam"), two.rename(bob, "Sam")]);
  assert.deepEqual([first, second].sort(), ["renamed", "taken"]);
  const winner = first === "renamed" ? "1:1001" : "2:1002";
  assert.equal(workers.coordinator.holder(nicknameKey("sam")), winner);

  // The winner leaves: the name is free for the other.
  const [leaver, stayer, stayerHub, stayerPlane] = first === "renamed"
    ? [alice, bob, two, planeTwo]
    : [bob, alice, one, planeOne];
  (first === "renamed" ? one : two).leave(leaver);
  await stayerPlane.receivedOne((event) => event.kind === "left");
  assert.equal(stayerHub.who().length, 1);
  assert.equal(await stayerHub.rename(stayer, "sam"), "renamed");
  assert.equal(
    workers.coordinator.holder(nicknameKey("sam")),
    first === "renamed" ? "2:1002" : "1:1001",
  );
  const presences = stayer.messages().flatMap((m) =>
    m.body.case === "presence" ? [m.body.value] : []
  );
  assert.ok(presences.some((p) => p.kind === PresenceKind.LEFT && p.sessionId === leaver.id));
  assert.ok(
    !stayer.messages().some((m) =>
      m.body.case === "error" && m.body.value.code === ErrorCode.NICKNAME_TAKEN
    ),
  );
});

Deno.test("worker backplane - a closed backplane answers claims unavailable and publishes nothing", async () => {
  const { port1, port2 } = new MessageChannel();
  port2.close();
  const plane = new WorkerBackplane(1, [port1], () => {});
  const pending = plane.claimNickname(
    { sessionId: 1001n, nickname: "x", node: 1, joinedAt: 0 },
    "x",
    undefined,
  );
  await plane[Symbol.asyncDispose]();
  assert.equal(await pending, "unavailable");
  plane.publish({ kind: "left", sessionId: 1001n });
  assert.equal(plane.stats().eventsPublished, 0);
});

Deno.test("worker backplane - a broadcast crosses with its own bytes, not the slab around them", async () => {
  await using workers = twoWorkers();
  const [one] = workers.hubs;
  const [, planeTwo] = workers.backplanes;
  one.broadcast({ body: { case: "chat", value: { content: "hi", fromSessionId: 1001n } } });
  await planeTwo.receivedOne((event) => event.kind === "chat");
  const event = planeTwo.received.find((event) => event.kind === "chat");
  assert.ok(event?.kind === "chat");
  // postMessage clones a view's whole buffer: a payload cut from a slab would bring 8 KiB.
  assert.equal(event.payload.buffer.byteLength, event.payload.byteLength);
});
