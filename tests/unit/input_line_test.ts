import assert from "node:assert/strict";
import { Action } from "../../gen/chat/v1/chat_pb.ts";
import { HELP_TEXT, parseInputLine } from "../../lib/ui/input_line.ts";

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
  for (const command of ["/echo", "/broadcast", "/nick", "/who", "/ping", "/help", "/quit", "//"]) {
    assert.ok(HELP_TEXT.includes(command), command);
  }
});
