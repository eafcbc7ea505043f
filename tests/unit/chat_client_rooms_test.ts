import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import {
  ChatClient,
  type ChatClientOptions,
  type ClientEvent,
} from "../../lib/client/chat_client.ts";
import type { ServerMessageInit } from "../../lib/protocol/codec.ts";
import { errorMessage } from "../../lib/protocol/error_message.ts";
import { deadline } from "../support/deadline.ts";
import { type ScriptedConnection, ScriptedServer } from "../support/scripted_server.ts";
import { scriptedWelcome } from "../support/scripted_welcome.ts";

/** A ChatClient's events, and a way to wait for the ones a test expects. */
class Recorder {
  readonly events: ClientEvent[] = [];
  #wake: (() => void) | undefined;

  readonly onEvent = (event: ClientEvent) => {
    this.events.push(event);
    this.#wake?.();
  };

  /** Waits until `done` holds for the events so far. */
  until(done: (events: ClientEvent[]) => boolean, what: string, ms = 10_000): Promise<void> {
    return deadline(
      (async () => {
        while (!done(this.events)) await new Promise<void>((resolve) => this.#wake = resolve);
      })(),
      ms,
      () => `${what}; events: ${this.events.map(describe).join(", ")}`,
    );
  }

  /** What was shown so far: chat events as `room:id` (`echo`, `private` without room), gaps. */
  get shown(): string[] {
    return this.events.flatMap((event) => {
      if (event.type === "chat") {
        return [
          event.room === undefined
            ? Action[event.event.action]
            : `${event.room}:${event.event.eventId}`,
        ];
      }
      if (event.type === "gap") return [`gap ${event.room}:${event.missed}`];
      return [];
    });
  }
}

function describe(event: ClientEvent): string {
  if (event.type === "message") return `message ${event.message.body.case}`;
  if (event.type === "chat") return `chat ${event.room}:${event.event.eventId}`;
  return event.type;
}

const welcome = (sessionId: bigint): ServerMessageInit => scriptedWelcome(sessionId);

/** A broadcast numbered `eventId` in `room` ("" for the lobby). */
const broadcast = (room: string, eventId: number, history = false): ServerMessageInit => ({
  body: {
    case: "chat",
    value: {
      action: Action.BROADCAST,
      room,
      eventId: BigInt(eventId),
      history,
      content: `m${eventId}`,
      fromSessionId: 99n,
      fromNickname: "zoe",
    },
  },
});

const roomJoined = (room: string, missed = 0): ServerMessageInit => ({
  body: { case: "joined", value: { room, members: 2, missed: BigInt(missed) } },
});

function start(server: ScriptedServer, options: Partial<ChatClientOptions> = {}) {
  const recorder = new Recorder();
  const client = new ChatClient({
    port: server.port,
    backoff: { initialMs: 10, maxMs: 10 },
    onEvent: recorder.onEvent,
    ...options,
  });
  return { client, recorder };
}

/** Welcomes the client on `connection` and returns the joins it sends at once. */
async function welcomeAndJoins(connection: ScriptedConnection, sessionId: bigint, joins: number) {
  await connection.send(welcome(sessionId));
  await connection.next("hello");
  const sent = [];
  for (let i = 0; i < joins; i++) sent.push(await connection.next("join"));
  return sent.map(({ room, resume, lastEventId }) => ({ room, resume, lastEventId }));
}

Deno.test("ChatClient - after the first Welcome it joins the lobby, and shows the lobby's live messages that came first after its history, once each", async () => {
  await using server = new ScriptedServer();
  const { client, recorder } = start(server);
  try {
    const connection = await server.accept();
    assert.deepEqual(await welcomeAndJoins(connection, 1n, 1), [
      { room: "#lobby", resume: false, lastEventId: 0n },
    ]);
    await connection.send(
      broadcast("", 11),
      broadcast("", 12),
      broadcast("", 10, true),
      broadcast("", 11, true),
      broadcast("", 12, true),
      roomJoined("#lobby"),
      broadcast("", 13),
    );
    await recorder.until(
      (events) => events.some((e) => e.type === "chat" && e.event.eventId === 13n),
      "message 13",
    );
    assert.deepEqual(recorder.shown, ["#lobby:10", "#lobby:11", "#lobby:12", "#lobby:13"]);
    const joined = recorder.events.find((e) =>
      e.type === "message" && e.message.body.case === "joined"
    );
    assert.deepEqual(joined?.type === "message" && joined.answers, {
      kind: "join",
      room: "#lobby",
      automatic: true,
    });
    // The RoomJoined comes before what it held.
    assert.ok(
      recorder.events.indexOf(joined!) <
        recorder.events.findIndex((e) => e.type === "chat"),
    );
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient - after a reconnect it resumes every room from the last message shown, shows what was missed, and names what is lost", async () => {
  await using server = new ScriptedServer();
  const { client, recorder } = start(server);
  try {
    const first = await server.accept();
    await welcomeAndJoins(first, 1n, 1);
    await first.send(broadcast("", 5, true), roomJoined("#lobby"));
    assert.ok(client.join("#Dev"));
    const devJoin = await first.next("join");
    assert.deepEqual([devJoin.room, devJoin.resume], ["#dev", false]);
    await first.send(broadcast("#dev", 1, true), roomJoined("#dev"), broadcast("#dev", 2));
    await recorder.until(
      (events) => events.filter((e) => e.type === "chat").length === 3,
      "3 messages",
    );
    assert.equal(client.currentRoom, "#dev");

    first.close();
    await recorder.until(
      (events) => events.some((e) => e.type === "disconnected"),
      "the disconnect",
    );
    const second = await server.accept();
    assert.deepEqual(await welcomeAndJoins(second, 2n, 2), [
      { room: "#lobby", resume: true, lastEventId: 5n },
      { room: "#dev", resume: true, lastEventId: 2n },
    ]);
    // The lobby kept 9 and 10 only: 6 to 8 are lost. #dev lost nothing.
    await second.send(
      broadcast("#dev", 4),
      broadcast("", 9, true),
      broadcast("", 10, true),
      roomJoined("#lobby", 3),
      broadcast("#dev", 3, true),
      broadcast("#dev", 4, true),
      roomJoined("#dev"),
    );
    await recorder.until(
      (events) => events.filter((e) => e.type === "chat").length === 7,
      "7 messages",
    );
    assert.deepEqual(recorder.shown, [
      "#lobby:5",
      "#dev:1",
      "#dev:2",
      "gap #lobby:3",
      "#lobby:9",
      "#lobby:10",
      "#dev:3",
      "#dev:4",
    ]);
    assert.equal(client.currentRoom, "#dev");
    // The client's own joins answered: none waits.
    const answers = recorder.events.flatMap((e) =>
      e.type === "message" && e.answers ? [e.answers] : []
    );
    assert.ok(answers.every((answer) => answer.kind === "join"));
    assert.equal(answers.length, 4);
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient - broadcasts go to the current room, the lobby as no room; private messages name their recipient; room requests carry the current room", async () => {
  await using server = new ScriptedServer();
  const { client, recorder } = start(server);
  try {
    const connection = await server.accept();
    await welcomeAndJoins(connection, 1n, 1);
    await connection.send(roomJoined("#lobby"));
    client.chat("to the lobby", Action.BROADCAST);
    assert.equal((await connection.next("chat")).room, "");
    assert.ok(client.join("#dev"));
    await connection.next("join");
    await connection.send(broadcast("#dev", 7, true), roomJoined("#dev"));
    client.chat("to dev", Action.BROADCAST);
    client.chat("to myself", Action.ECHO);
    client.privateMessage("bob", "psst");
    const [toDev, echo, whisper] = [
      await connection.next("chat"),
      await connection.next("chat"),
      await connection.next("chat"),
    ];
    assert.equal(toDev.room, "#dev");
    assert.equal(echo.room, "");
    assert.equal(whisper.action, Action.PRIVATE);
    assert.equal(whisper.toNickname, "bob");
    assert.equal(whisper.content, "psst");
    assert.ok(whisper.clientSeq > echo.clientSeq);

    client.who();
    assert.equal((await connection.next("who")).room, "");
    client.who("#dev");
    assert.equal((await connection.next("who")).room, "#dev");
    client.rooms();
    await connection.next("rooms");
    await recorder.until((events) => events.some((e) => e.type === "chat"), "the history of #dev");
    client.history(10);
    const history = await connection.next("history");
    assert.deepEqual([history.room, history.beforeEventId, history.count], ["#dev", 7n, 10]);

    assert.ok(client.part());
    assert.equal((await connection.next("part")).room, "#dev");
    assert.equal(client.currentRoom, "#lobby");
    assert.deepEqual(client.joinedRooms, ["#lobby"]);
    const moves = recorder.events.flatMap((e) => e.type === "room" ? [e.current] : []);
    assert.deepEqual(moves, ["#dev", "#lobby"]);
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient - a HistoryEnd counts only the messages of its answer not already shown", async () => {
  await using server = new ScriptedServer();
  const { client, recorder } = start(server);
  try {
    const connection = await server.accept();
    await welcomeAndJoins(connection, 1n, 1);
    client.join("#dev");
    // Asked while the join is on its way: nothing shown yet to count back from.
    assert.ok(client.history(20));
    await connection.next("join");
    const history = await connection.next("history");
    assert.deepEqual([history.room, history.beforeEventId, history.count], ["#dev", 0n, 20]);
    await connection.send(
      broadcast("#dev", 41, true),
      broadcast("#dev", 42, true),
      roomJoined("#dev"),
      broadcast("#dev", 40, true),
      broadcast("#dev", 41, true),
      broadcast("#dev", 42, true),
      { body: { case: "historyEnd", value: { room: "#dev", count: 3 } } },
    );
    await recorder.until(
      (events) => events.some((e) => e.type === "message" && e.message.body.case === "historyEnd"),
      "the HistoryEnd",
    );
    assert.deepEqual(recorder.shown, ["#dev:41", "#dev:42", "#dev:40"]);
    const end = recorder.events.find((e) =>
      e.type === "message" && e.message.body.case === "historyEnd"
    );
    assert.ok(end?.type === "message" && end.message.body.case === "historyEnd");
    assert.equal(end.message.body.value.count, 1);
    assert.deepEqual(end.answers, { kind: "history", room: "#dev", automatic: false });
    client.history(5);
    assert.equal((await connection.next("history")).beforeEventId, 40n);
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient - a server without rooms answers the lobby's join UNSUPPORTED: its unnumbered messages still show at once", async () => {
  await using server = new ScriptedServer();
  const { client, recorder } = start(server);
  try {
    const connection = await server.accept();
    await welcomeAndJoins(connection, 1n, 1);
    await connection.send(
      broadcast("", 0),
      errorMessage(ErrorCode.UNSUPPORTED, "Message has no body, or one this server does not know"),
      broadcast("", 0),
    );
    await recorder.until(
      (events) => events.filter((e) => e.type === "chat").length === 2,
      "2 messages",
    );
    const error = recorder.events.find((e) =>
      e.type === "message" && e.message.body.case === "error"
    );
    assert.deepEqual(error?.type === "message" && error.answers, {
      kind: "join",
      room: "#lobby",
      automatic: true,
    });
    assert.deepEqual(client.joinedRooms, ["#lobby"]);
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient - errors without a client_seq are told apart by the request they answer; a refused join gives the current room back", async () => {
  await using server = new ScriptedServer();
  const { client, recorder } = start(server, { nickname: "alice" });
  try {
    const connection = await server.accept();
    await welcomeAndJoins(connection, 1n, 1);
    await connection.send(
      {
        body: {
          case: "presence",
          value: {
            kind: PresenceKind.RENAMED,
            sessionId: 1n,
            nickname: "alice",
            previousNickname: "guest-1",
          },
        },
      },
      roomJoined("#lobby"),
    );
    client.join("#full");
    client.part("#elsewhere");
    client.setNickname("bob");
    await connection.next("join");
    await connection.next("part");
    await connection.next("hello");
    assert.equal(client.currentRoom, "#full");
    await connection.send(
      errorMessage(ErrorCode.ROOM_LIMIT, "No more rooms"),
      errorMessage(ErrorCode.NOT_IN_ROOM, "You are not in #elsewhere"),
      errorMessage(ErrorCode.NICKNAME_TAKEN, 'Nickname "bob" is already taken'),
    );
    await recorder.until(
      (events) =>
        events.filter((e) => e.type === "message" && e.message.body.case === "error").length === 3,
      "3 errors",
    );
    const answers = recorder.events.flatMap((e) =>
      e.type === "message" && e.message.body.case !== "chat" && e.answers ? [e.answers] : []
    );
    assert.deepEqual(answers, [
      { kind: "nick", room: "", automatic: true },
      { kind: "join", room: "#lobby", automatic: true },
      { kind: "join", room: "#full", automatic: false },
      { kind: "part", room: "#elsewhere", automatic: false },
      { kind: "nick", room: "", automatic: false },
    ]);
    assert.equal(client.currentRoom, "#lobby");
    assert.deepEqual(client.joinedRooms, ["#lobby"]);
    // A refused /nick is not the name asked for at connect: alice is kept.
    assert.equal(client.nickname, "alice");
  } finally {
    await client.close();
  }
});

Deno.test("ChatClient - a rename told once for each room two users share is passed on once", async () => {
  await using server = new ScriptedServer();
  const { client, recorder } = start(server);
  try {
    const connection = await server.accept();
    await welcomeAndJoins(connection, 1n, 1);
    const renamed = (
      previousNickname: string,
      nickname: string,
      room: string,
    ): ServerMessageInit => ({
      body: {
        case: "presence",
        value: { kind: PresenceKind.RENAMED, sessionId: 7n, previousNickname, nickname, room },
      },
    });
    await connection.send(
      renamed("zoe", "zed", ""),
      renamed("zoe", "zed", "#dev"),
      renamed("zed", "zoe", ""),
      renamed("zed", "zoe", "#dev"),
      { body: { case: "pong", value: { nonce: 1n } } },
    );
    await recorder.until(
      (events) => events.some((e) => e.type === "message" && e.message.body.case === "pong"),
      "the pong",
    );
    const renames = recorder.events.flatMap((e) =>
      e.type === "message" && e.message.body.case === "presence"
        ? [e.message.body.value.nickname]
        : []
    );
    assert.deepEqual(renames, ["zed", "zoe"]);
  } finally {
    await client.close();
  }
});
