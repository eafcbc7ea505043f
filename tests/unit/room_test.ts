import assert from "node:assert/strict";
import { Room } from "../../lib/server/room.ts";
import { framedPayloads } from "../support/framed_payloads.ts";

/** The one-byte payloads a room's log holds, in order. */
function logged(room: Room): number[] {
  return room.log.views(room.log.tail).flatMap((view) => framedPayloads(view).map((p) => p[0]));
}

const payload = (n: number) => new Uint8Array([n]);

Deno.test("Room - numbered events go into the log in id order, an early one waiting for its predecessor", () => {
  using room = new Room("#dev", () => {});
  room.members.set(1n, {} as never);
  room.appendNumbered(1n, payload(1));
  room.appendNumbered(3n, payload(3));
  room.appendNumbered(4n, payload(4));
  assert.deepEqual(logged(room), [1], "3 and 4 wait for 2");
  room.appendNumbered(2n, payload(2));
  assert.deepEqual(logged(room), [1, 2, 3, 4]);
});

Deno.test("Room - unnumbered events go in at once, and a late one is not lost", () => {
  using room = new Room("#dev", () => {});
  room.members.set(1n, {} as never);
  room.appendNumbered(5n, payload(5));
  room.appendNumbered(0n, payload(0));
  room.appendNumbered(4n, payload(4));
  assert.deepEqual(logged(room), [5, 0, 4]);
});

Deno.test("Room - an event whose predecessor never comes goes in after the wait, with those after it", async () => {
  const wanted = Promise.withResolvers<void>();
  using room = new Room("#dev", () => wanted.resolve());
  room.members.set(1n, {} as never);
  room.appendNumbered(1n, payload(1));
  room.appendNumbered(3n, payload(3));
  room.appendNumbered(4n, payload(4));
  await wanted.promise;
  assert.deepEqual(logged(room), [1, 3, 4]);
  room.appendNumbered(5n, payload(5));
  assert.deepEqual(logged(room), [1, 3, 4, 5], "and on from there without waiting");
});

Deno.test("Room - the first numbered event sets where the order starts", () => {
  using room = new Room("#dev", () => {});
  room.members.set(1n, {} as never);
  room.appendNumbered(41n, payload(41));
  room.appendNumbered(42n, payload(42));
  assert.deepEqual(logged(room), [41, 42]);
});

Deno.test("Room - the lobby is sent as an empty name, as older clients expect", () => {
  using lobby = new Room("#lobby", () => {});
  using dev = new Room("#dev", () => {});
  assert.equal(lobby.wireName, "");
  assert.equal(dev.wireName, "#dev");
});

Deno.test("Room - told where its order begins, it waits for the first id rather than take the first seen", async () => {
  using room = new Room("#dev", () => {});
  room.members.set(1n, {} as never);
  const lastId = Promise.withResolvers<bigint>();
  room.startAfter(lastId.promise);
  room.appendNumbered(9n, payload(9));
  room.appendNumbered(7n, payload(7));
  assert.deepEqual(logged(room), [], "both wait for the room's last id");
  lastId.resolve(7n);
  await lastId.promise;
  assert.deepEqual(logged(room), [7], "7 was numbered before: in at once; 9 waits for 8");
  room.appendNumbered(8n, payload(8));
  assert.deepEqual(logged(room), [7, 8, 9]);
  assert.equal(room.highestEventId, 9n);
});

Deno.test("Room - a numbered event that waits says when it is in, for its sender's next frames", async () => {
  using room = new Room("#dev", () => {});
  room.members.set(1n, {} as never);
  assert.equal(room.appendNumbered(1n, payload(1)), undefined, "in at once");
  const waiting = room.appendNumbered(3n, payload(3));
  assert.ok(waiting instanceof Promise);
  let written = false;
  waiting.then(() => written = true);
  room.append(payload(100));
  assert.deepEqual(logged(room), [1, 100], "presence does not wait");
  room.appendNumbered(2n, payload(2));
  await waiting;
  assert.ok(written);
  assert.deepEqual(logged(room), [1, 100, 2, 3]);
});
