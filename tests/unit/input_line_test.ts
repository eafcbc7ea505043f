import assert from "node:assert/strict";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { HELP_TEXT, maskPasswords, parseInputLine } from "../../lib/ui/input_line.ts";

Deno.test("parseInputLine - plain text is a chat line in the current mode", () => {
  assert.deepEqual(parseInputLine("hello world", Action.ECHO), {
    kind: "chat",
    action: Action.ECHO,
    text: "hello world",
  });
  assert.deepEqual(parseInputLine("hello world", Action.BROADCAST), {
    kind: "chat",
    action: Action.BROADCAST,
    text: "hello world",
  });
  // Sent exactly as typed, surrounding spaces included.
  assert.deepEqual(parseInputLine("  spaced  ", Action.ECHO), {
    kind: "chat",
    action: Action.ECHO,
    text: "  spaced  ",
  });
  assert.deepEqual(parseInputLine(" /who", Action.ECHO), {
    kind: "chat",
    action: Action.ECHO,
    text: " /who",
  });
});

Deno.test("parseInputLine - a blank line is empty", () => {
  for (const line of ["", " ", "\t  "]) {
    assert.deepEqual(
      parseInputLine(line, Action.BROADCAST),
      { kind: "empty" },
      JSON.stringify(line),
    );
  }
});

Deno.test("parseInputLine - /echo and /broadcast alone switch mode", () => {
  assert.deepEqual(parseInputLine("/echo", Action.BROADCAST), {
    kind: "mode",
    action: Action.ECHO,
  });
  assert.deepEqual(parseInputLine("/broadcast", Action.ECHO), {
    kind: "mode",
    action: Action.BROADCAST,
  });
  assert.deepEqual(parseInputLine("/echo   ", Action.BROADCAST), {
    kind: "mode",
    action: Action.ECHO,
  });
  assert.deepEqual(parseInputLine("/ECHO", Action.BROADCAST), {
    kind: "mode",
    action: Action.ECHO,
  });
});

Deno.test("parseInputLine - /echo and /broadcast with text send one message in that mode", () => {
  assert.deepEqual(parseInputLine("/echo hi there", Action.BROADCAST), {
    kind: "chat",
    action: Action.ECHO,
    text: "hi there",
  });
  assert.deepEqual(parseInputLine("/broadcast x", Action.ECHO), {
    kind: "chat",
    action: Action.BROADCAST,
    text: "x",
  });
  assert.deepEqual(parseInputLine("/broadcast /who", Action.ECHO), {
    kind: "chat",
    action: Action.BROADCAST,
    text: "/who",
  });
});

Deno.test("parseInputLine - /nick takes a name; alone it is invalid with the usage", () => {
  assert.deepEqual(parseInputLine("/nick bob", Action.ECHO), { kind: "nick", nickname: "bob" });
  assert.deepEqual(parseInputLine("/nick  bob ", Action.ECHO), { kind: "nick", nickname: "bob" });
  for (const line of ["/nick", "/nick ", "/nick    "]) {
    assert.deepEqual(
      parseInputLine(line, Action.ECHO),
      { kind: "invalid", message: "Usage: /nick NAME" },
      JSON.stringify(line),
    );
  }
});

Deno.test("parseInputLine - /who, /ping, /help and /quit", () => {
  assert.deepEqual(parseInputLine("/who", Action.ECHO), { kind: "who" });
  assert.deepEqual(parseInputLine("/ping", Action.ECHO), { kind: "ping" });
  assert.deepEqual(parseInputLine("/help", Action.ECHO), { kind: "help" });
  assert.deepEqual(parseInputLine("/?", Action.ECHO), { kind: "help" });
  assert.deepEqual(parseInputLine("/quit", Action.ECHO), { kind: "quit" });
  assert.deepEqual(parseInputLine("/exit", Action.ECHO), { kind: "quit" });
  assert.deepEqual(parseInputLine("/WHO", Action.BROADCAST), { kind: "who" });
});

Deno.test("parseInputLine - an unknown command is invalid and points to /help", () => {
  for (const line of ["/unknown", "/unknown with args", "/"]) {
    const command = parseInputLine(line, Action.ECHO);
    assert.equal(command.kind, "invalid", line);
    assert.match((command as { message: string }).message, /\/help/, line);
  }
  assert.deepEqual(parseInputLine("/unknown", Action.ECHO), {
    kind: "invalid",
    message: "Unknown command /unknown - type /help for the list",
  });
});

Deno.test("parseInputLine - a line starting with // sends the rest after one slash", () => {
  assert.deepEqual(parseInputLine("//slash", Action.ECHO), {
    kind: "chat",
    action: Action.ECHO,
    text: "/slash",
  });
  assert.deepEqual(parseInputLine("//", Action.BROADCAST), {
    kind: "chat",
    action: Action.BROADCAST,
    text: "/",
  });
  assert.deepEqual(parseInputLine("///who", Action.ECHO), {
    kind: "chat",
    action: Action.ECHO,
    text: "//who",
  });
});

Deno.test("HELP_TEXT - mentions every command", () => {
  for (
    const command of [
      "/echo",
      "/broadcast",
      "/join",
      "/part",
      "/rooms",
      "/who",
      "/msg",
      "/history",
      "/nick",
      "/ping",
      "/help",
      "/quit",
      "//",
      "/identify",
      "/register",
      "/password",
      "/unregister",
    ]
  ) {
    assert.ok(HELP_TEXT.includes(command), command);
  }
});

const ROOMS = { rooms: true } as const;

Deno.test("parseInputLine - /join and /part take a room, in lower case; a bare name gets its #", () => {
  assert.deepEqual(parseInputLine("/join #Dev", Action.BROADCAST, ROOMS), {
    kind: "join",
    room: "#dev",
  });
  assert.deepEqual(parseInputLine("/join dev_2 ", Action.BROADCAST, ROOMS), {
    kind: "join",
    room: "#dev_2",
  });
  assert.deepEqual(parseInputLine("/part", Action.BROADCAST, ROOMS), { kind: "part" });
  assert.deepEqual(parseInputLine("/part #dev", Action.BROADCAST, ROOMS), {
    kind: "part",
    room: "#dev",
  });
  assert.deepEqual(parseInputLine("/join", Action.BROADCAST, ROOMS), {
    kind: "invalid",
    message: "Usage: /join #room",
  });
  assert.deepEqual(parseInputLine("/join #a #b", Action.BROADCAST, ROOMS), {
    kind: "invalid",
    message: "Usage: /join #room",
  });
  for (const line of ["/join #dév", "/join #", `/join #${"x".repeat(33)}`, "/part #a.b"]) {
    const command = parseInputLine(line, Action.BROADCAST, ROOMS);
    assert.equal(command.kind, "invalid", line);
    assert.match((command as { message: string }).message, /is not valid: a room is "#" then/);
  }
});

Deno.test("parseInputLine - /who with a room asks about that room, without one about the current room", () => {
  assert.deepEqual(parseInputLine("/who", Action.BROADCAST, ROOMS), { kind: "who" });
  assert.deepEqual(parseInputLine("/who #ops", Action.BROADCAST, ROOMS), {
    kind: "who",
    room: "#ops",
  });
  assert.deepEqual(parseInputLine("/rooms", Action.BROADCAST, ROOMS), { kind: "rooms" });
});

Deno.test("parseInputLine - /msg NICK text sends the text as typed after the name", () => {
  assert.deepEqual(parseInputLine("/msg bob hi there ", Action.ECHO, ROOMS), {
    kind: "private",
    nickname: "bob",
    text: "hi there ",
  });
  for (const line of ["/msg", "/msg bob", "/msg bob   "]) {
    assert.deepEqual(
      parseInputLine(line, Action.ECHO, ROOMS),
      { kind: "invalid", message: "Usage: /msg NICK text" },
      line,
    );
  }
});

Deno.test("parseInputLine - /history takes an optional count from 1 to 200", () => {
  assert.deepEqual(parseInputLine("/history", Action.ECHO, ROOMS), { kind: "history" });
  assert.deepEqual(parseInputLine("/history 20", Action.ECHO, ROOMS), {
    kind: "history",
    count: 20,
  });
  for (const line of ["/history 0", "/history 201", "/history x", "/history -1"]) {
    assert.deepEqual(
      parseInputLine(line, Action.ECHO, ROOMS),
      { kind: "invalid", message: "Usage: /history [count] - count is 1 to 200" },
      line,
    );
  }
});

Deno.test("parseInputLine - without the rooms option, room commands are unknown and /who takes no room", () => {
  for (const line of ["/join #dev", "/part", "/rooms", "/msg bob hi", "/history"]) {
    assert.equal(parseInputLine(line, Action.ECHO).kind, "invalid", line);
  }
  assert.deepEqual(parseInputLine("/who #dev", Action.ECHO), { kind: "who" });
});

Deno.test("parseInputLine - the account commands take single-word passwords, and their usage errors never quote them", () => {
  const parse = (line: string) => parseInputLine(line, Action.BROADCAST, ROOMS);
  assert.deepEqual(parse("/register secret123"), { kind: "register", password: "secret123" });
  assert.deepEqual(parse("/unregister  secret123 "), { kind: "unregister", password: "secret123" });
  assert.deepEqual(parse("/password old12345 new67890"), {
    kind: "password",
    oldPassword: "old12345",
    newPassword: "new67890",
  });
  assert.deepEqual(parse("/identify secret123"), { kind: "identify", password: "secret123" });
  assert.deepEqual(parse("/IDENTIFY alice secret123"), {
    kind: "identify",
    nickname: "alice",
    password: "secret123",
  });
  for (
    const line of [
      "/register",
      "/register two0words three0more",
      "/password only0one",
      "/identify x1y2z3 q8w9e7 r5t6y4",
    ]
  ) {
    const command = parse(line);
    assert.equal(command.kind, "invalid", line);
    assert.match(command.kind === "invalid" ? command.message : "", /^Usage: /);
    for (const word of line.split(" ").slice(1)) {
      assert.ok(!(command.kind === "invalid" && command.message.includes(word)), line);
    }
  }
});

Deno.test("parseInputLine - a new password the server would refuse is refused at once, in one sentence, without quoting it", () => {
  const parse = (line: string) => parseInputLine(line, Action.BROADCAST, ROOMS);
  assert.deepEqual(parse("/password old12345 abcde"), {
    kind: "invalid",
    message: "Cannot change the password: the password is 5 bytes long; it needs at least 8",
  });
  assert.deepEqual(parse("/register abcde"), {
    kind: "invalid",
    message: "Cannot register: the password is 5 bytes long; it needs at least 8",
  });
});

Deno.test("maskPasswords - account commands show their passwords as stars, everything else as typed", () => {
  assert.equal(maskPasswords("/register secret123"), "/register ********");
  assert.equal(maskPasswords("/password old12345 new67890"), "/password ******** ********");
  assert.equal(maskPasswords("/unregister x"), "/unregister ********");
  assert.equal(maskPasswords("/identify secret123"), "/identify ********");
  assert.equal(maskPasswords("/identify alice secret123"), "/identify alice ********");
  assert.equal(maskPasswords("/Register  a b c"), "/Register ******** ******** ********");
  for (
    const line of ["/register", "hello /register x", "//register x", "/registered x", "/nick a"]
  ) {
    assert.equal(maskPasswords(line), line);
  }
});
