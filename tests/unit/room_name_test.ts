import assert from "node:assert/strict";
import {
  LOBBY,
  MAX_ROOM_NAME_CHARACTERS,
  roomKey,
  roomNameProblem,
} from "../../lib/protocol/room_name.ts";

Deno.test("room names - # then 1-32 of a-z 0-9 - _, in any case", () => {
  for (const name of ["#a", "#dev", "#Dev-Team_2", "#" + "x".repeat(MAX_ROOM_NAME_CHARACTERS)]) {
    assert.equal(roomNameProblem(name), undefined, name);
  }
});

Deno.test("room names - anything else is refused, in words that quote it", () => {
  for (
    const name of [
      "#",
      "dev",
      "##dev",
      "#dev room",
      "#dév",
      "#lоbby", // Cyrillic о
      "#" + "x".repeat(MAX_ROOM_NAME_CHARACTERS + 1),
      "#dev\n",
      "#\u0000",
    ]
  ) {
    const problem = roomNameProblem(name);
    assert.ok(problem !== undefined, JSON.stringify(name));
    assert.match(problem, /^Room name ".*" is not valid: a room is "#" then 1-32 of /);
  }
});

Deno.test("room names - a long name is cut in the message, and control characters escaped", () => {
  const problem = roomNameProblem("#" + "y".repeat(60_000))!;
  assert.ok(problem.length < 200, problem);
  assert.match(roomNameProblem("#a\u0007b")!, /"#a\\u0007b"/);
});

Deno.test("room names - the key is lower case, and an empty name is the lobby", () => {
  assert.equal(roomKey("#Dev"), "#dev");
  assert.equal(roomKey("#LOBBY"), LOBBY);
  assert.equal(roomKey(""), LOBBY);
  assert.equal(roomNameProblem(""), undefined, "a chat with no room goes to the lobby");
});
