/**
 * A fuzz test over real sockets against the real server process, on both of its
 * transports: TCP and WebSocket (/ws on the HTTP port).
 *
 * Fuzz connections send random bytes, truncated and oversize length prefixes, frames
 * whose payloads are modelled (the reply is predicted from the protocol), mutated or
 * pure protobuf soup, and over WebSocket the same frames as messages (fragmented, with
 * pings between), protocol violations, refused messages and odd handshakes, while
 * three well-behaved clients (one of them over WebSocket) stay connected and two of
 * them broadcast numbered messages. Every connection must be answered as the protocol
 * says; the well-behaved clients must see every broadcast exactly once, in one order;
 * the server must survive, answer a fresh client and stop cleanly.
 *
 * FUZZ_SECONDS (default 5) sets how long cases are started; FUZZ_SEED (default
 * random) replays a run: every case's content comes from a PRNG seeded with the run's
 * seed and the case's index. FUZZ_CASE=<index> runs that one case alone.
 */
import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { freePort } from "../support/client_process.ts";
import { deadline } from "../support/deadline.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { WebSocketTestClient } from "../support/websocket_test_client.ts";
import { runCases } from "./case_loop.ts";
import { framesCase } from "./cases/frames_case.ts";
import { type CaseEnv, type CaseInfo, type CaseRunner, describeCase } from "./cases/session.ts";
import { oversizeCase, randomCase, truncatedCase } from "./cases/tcp_cases.ts";
import {
  handshakeCase,
  refusedMessageCase,
  violationCase,
  websocketRandomCase,
} from "./cases/websocket_cases.ts";
import { describeMessage, same, shorten } from "./describe.ts";
import {
  delay,
  runSettings,
  SERVER_ARGS,
  WAIT_MS,
  WELL_BEHAVED_NICKNAMES,
} from "./fuzz_settings.ts";
import { broadcastKey, type BroadcastRegistry } from "./replies.ts";
import { Rng } from "./rng.ts";
import { count, newStats } from "./stats.ts";

/** Fuzz cases in flight at once, each on its own connection. */
const CONCURRENCY = 8;
/** Load pacing for the well-behaved broadcasters (not synchronisation). */
const BROADCAST_INTERVAL_MS = 25;
const MAX_BROADCASTS_PER_SENDER = 1_000_000;

/** The kinds of case, how often each comes, and the transport it runs on. */
const KINDS: readonly (readonly [number, string, boolean, CaseRunner])[] = [
  [8, "random", false, randomCase],
  [5, "truncated", false, truncatedCase],
  [8, "oversize", false, oversizeCase],
  [22, "frames", false, framesCase(false)],
  [7, "split", false, framesCase(true)],
  [22, "ws-frames", true, framesCase(false)],
  [5, "ws-split", true, framesCase(true)],
  [10, "ws-violation", true, violationCase],
  [6, "ws-refused", true, refusedMessageCase],
  [4, "ws-random", true, websocketRandomCase],
  [3, "ws-handshake", true, handshakeCase],
];

Deno.test("fuzz - the server survives random and malformed input on TCP and WebSocket, answers each connection by the protocol and delivers every broadcast exactly once, in order", async () => {
  const settings = runSettings();
  const { seed, seconds, onlyCase } = settings;
  console.log(
    `fuzz seed=${seed} seconds=${seconds}${onlyCase === undefined ? "" : ` case=${onlyCase}`}`,
  );
  const replay = `replay with FUZZ_SEED=${seed}`;

  const httpPort = freePort();
  await using server = await ServerProcess.start([...SERVER_ARGS, "--http-port", String(httpPort)]);
  await server.stdout.waitFor(`open http://127.0.0.1:${httpPort} in a browser`, WAIT_MS);
  let serverExit: Deno.CommandStatus | undefined;
  server.process.status.then((status) => serverExit = status);

  // Three well-behaved clients, named, connected all along; C over WebSocket.
  await using a = await TestClient.connect(server.port);
  await using b = await TestClient.connect(server.port);
  await using c = await WebSocketTestClient.connect(httpPort);
  const wellBehaved = [a, b, c];
  const ended = new Set<unknown>();
  for (const client of wellBehaved) client.closed.then(() => ended.add(client));
  for (const [i, client] of wellBehaved.entries()) {
    await client.send({ body: { case: "hello", value: { nickname: WELL_BEHAVED_NICKNAMES[i] } } });
    await client.nextMatching(
      (m) =>
        m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED &&
        m.body.value.sessionId === client.sessionId,
      WAIT_MS,
      "the rename",
    );
  }
  // Each sees C's rename: the hub's events from there on must be the same for all three.
  const starts = await Promise.all(wellBehaved.map(async (client) => {
    const renamed = await client.seen(
      (m) =>
        m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED &&
        m.body.value.sessionId === c.sessionId,
      WAIT_MS,
    );
    return client.received.indexOf(renamed);
  }));
  const wellBehavedUsers = wellBehaved.map((client, i) => ({
    id: client.sessionId,
    nickname: WELL_BEHAVED_NICKNAMES[i],
  }));

  const stats = newStats();
  const registry: BroadcastRegistry = new Map();
  const serverState = () =>
    (serverExit === undefined ? "" : `\nthe server exited: ${JSON.stringify(serverExit)}`) +
    `\nserver stderr:\n${server.stderr.text.slice(-2000)}`;

  // Two broadcasters at a steady pace until the fuzzing is over; one message after it.
  let fuzzing = true;
  let broadcastFailure: Error | undefined;
  const broadcasters = [a, b].map(async (client, i) => {
    const nickname = WELL_BEHAVED_NICKNAMES[i];
    let seq = 0;
    try {
      while (seq < MAX_BROADCASTS_PER_SENDER && broadcastFailure === undefined) {
        const stopAfterThis = !fuzzing;
        await client.send({
          body: {
            case: "chat",
            value: {
              content: `${nickname}/${seq}`,
              action: Action.BROADCAST,
              clientSeq: BigInt(seq),
            },
          },
        });
        seq++;
        if (stopAfterThis) break;
        await delay(BROADCAST_INTERVAL_MS);
      }
    } catch (error) {
      broadcastFailure ??= new Error(
        `fuzz seed=${seed} (${replay}) failed: ${nickname} could not send broadcast ${seq}: ` +
          `${error}${serverState()}`,
        { cause: error },
      );
    }
    return seq;
  });

  // The fuzz cases, CONCURRENCY at a time, until the time is up.
  const addresses = {
    tcp: { port: server.port, websocket: false },
    websocket: { port: httpPort, websocket: true },
  };
  let failed = false;
  try {
    await runCases(settings, CONCURRENCY, async ({ index, seed: caseSeed }) => {
      const [, kind, websocket, run] = new Rng(caseSeed ^ 0x5bd1e995).weighted(
        KINDS.map((k) => [k[0], k] as const),
      );
      count(stats.cases, kind);
      const info: CaseInfo = {
        index,
        seed: caseSeed,
        kind,
        notes: [],
        writes: [],
        conns: [],
        sessions: [],
      };
      const env: CaseEnv = {
        address: websocket ? addresses.websocket : addresses.tcp,
        stats,
        registry,
        wellBehaved: wellBehavedUsers,
      };
      try {
        await run(env, info, new Rng(caseSeed));
        for (const session of info.sessions) {
          session.ownReplies();
          for (const message of session.conn.messages) {
            if (message.body.case !== "error") continue;
            count(stats.errors, ErrorCode[message.body.value.code] ?? `${message.body.value.code}`);
          }
        }
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${describeCase(info)}${serverState()}`, {
          cause: error,
        });
      } finally {
        for (const conn of info.conns) {
          conn.close();
          await conn.done;
        }
      }
    }, () => broadcastFailure?.message ?? (serverExit === undefined ? undefined : "exited"));
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    fuzzing = false;
    const sent = await Promise.all(broadcasters);
    if (!failed) await checkAfterwards(sent);
  }

  async function checkAfterwards(sent: number[]): Promise<void> {
    if (broadcastFailure !== undefined) throw broadcastFailure;
    // The server is alive and well: a fresh client gets a Welcome and a Pong.
    assert.equal(serverExit, undefined, `the server exited during the fuzzing; ${replay}`);
    await using fresh = await TestClient.connect(server.port);
    await fresh.send({ body: { case: "ping", value: { nonce: 42n } } });
    assert.equal((await fresh.next("pong", WAIT_MS)).nonce, 42n);

    // Every well-behaved client got every broadcast, once, in order, in one global order.
    const senders = [a, b];
    const orders: string[][] = [];
    const hubEvents: string[][] = [];
    const fuzzBroadcasts: Map<string, number>[] = [];
    for (const [i, client] of wellBehaved.entries()) {
      const name = WELL_BEHAVED_NICKNAMES[i];
      for (const [s, sender] of senders.entries()) {
        await client.seen(
          (m) =>
            m.body.case === "chat" && m.body.value.fromSessionId === sender.sessionId &&
            m.body.value.clientSeq === BigInt(sent[s] - 1),
          WAIT_MS,
        );
      }
      assert.ok(!ended.has(client), `${name} was disconnected; ${replay}`);
      const errors = client.received.filter((m) => m.body.case === "error").map(describeMessage);
      same(errors, [], `${name} got errors; ${replay}`);
      const known = client.received.flatMap((m) =>
        m.body.case === "chat" &&
          senders.some((s) =>
            s.sessionId === (m.body.value as { fromSessionId: bigint }).fromSessionId
          )
          ? [m.body.value]
          : []
      );
      for (const [s, sender] of senders.entries()) {
        const senderName = WELL_BEHAVED_NICKNAMES[s];
        const events = known.filter((e) => e.fromSessionId === sender.sessionId);
        same(
          events.map((e) => `${Action[e.action]} ${e.fromNickname} ${e.clientSeq} ${e.content}`),
          Array.from(
            { length: sent[s] },
            (_, seq) => `BROADCAST ${senderName} ${seq} ${senderName}/${seq}`,
          ),
          `${name}: the broadcasts from ${senderName}, each exactly once, in order; ${replay}`,
        );
      }
      orders.push(known.map((e) => e.content));
      // The hub's events (broadcasts and presence) from the setup to the last broadcast.
      const lastIndex = Math.max(
        ...senders.map((sender, s) =>
          client.received.findIndex((m) =>
            m.body.case === "chat" && m.body.value.fromSessionId === sender.sessionId &&
            m.body.value.clientSeq === BigInt(sent[s] - 1)
          )
        ),
      );
      const stream = client.received.slice(starts[i] + 1, lastIndex + 1).filter((m) =>
        m.body.case === "chat" || m.body.case === "presence"
      );
      hubEvents.push(
        stream.map((m) =>
          m.body.case === "chat"
            ? `chat ${broadcastKey(m.body.value)} ${m.body.value.action}`
            : describeMessage(m) + ` ${(m.body.value as { online: number }).online}`
        ),
      );
      const counts = new Map<string, number>();
      for (const m of stream) if (m.body.case === "chat") count(counts, broadcastKey(m.body.value));
      fuzzBroadcasts.push(counts);
    }
    for (let i = 1; i < orders.length; i++) {
      same(
        orders[i],
        orders[0],
        `${WELL_BEHAVED_NICKNAMES[i]} and wb-a saw the broadcasts in different orders; ${replay}`,
      );
    }
    for (let i = 1; i < hubEvents.length; i++) {
      const first = hubEvents[i].findIndex((e, j) => e !== hubEvents[0][j]);
      assert.ok(
        first === -1 && hubEvents[i].length === hubEvents[0].length,
        `${WELL_BEHAVED_NICKNAMES[i]} and wb-a saw different hub events from #${first}: ` +
          `${shorten(hubEvents[i][first], 120)} vs ${shorten(hubEvents[0][first], 120)}; ${replay}`,
      );
    }
    // Each broadcast a fuzz session saw come back reached every well-behaved client exactly as often.
    for (const [key, n] of registry) {
      for (const [i, counts] of fuzzBroadcasts.entries()) {
        assert.equal(
          counts.get(key) ?? 0,
          n,
          `${WELL_BEHAVED_NICKNAMES[i]}: fuzz broadcast ${shorten(key, 120)}; ${replay}`,
        );
      }
    }

    // Once the fuzz connections are gone, who lists exactly the well-behaved clients and the fresh one.
    const expectedUsers = [...wellBehavedUsers, {
      id: fresh.sessionId,
      nickname: `guest-${fresh.sessionId}`,
    }]
      .map((u) => `${u.id}:${u.nickname}`);
    const giveUpAt = Date.now() + WAIT_MS;
    let users: string[] = [];
    while (true) {
      await a.send({ body: { case: "who", value: {} } });
      users = (await a.next("who", WAIT_MS)).users.map((u) => `${u.sessionId}:${u.nickname}`);
      if (users.join() === expectedUsers.join() || Date.now() > giveUpAt) break;
      await delay(50);
    }
    same(users, expectedUsers, `who after the fuzzing; ${replay}`);

    // A graceful stop: SHUTTING_DOWN to everyone, exit code 0.
    const status = await server.stop("SIGINT");
    assert.equal(
      status.code,
      0,
      `the server's exit status; ${replay}\n${server.stderr.text.slice(-2000)}`,
    );
    for (const client of [...wellBehaved, fresh]) {
      await deadline<unknown>(client.closed, WAIT_MS, "the connection to close on shutdown");
      const lastMessage = client.received.at(-1)!;
      assert.ok(
        lastMessage.body.case === "error" &&
          lastMessage.body.value.code === ErrorCode.SHUTTING_DOWN,
        `the last message on shutdown: ${describeMessage(lastMessage)}`,
      );
    }
    const troubles = server.stdout.lines.filter((line) => / ERROR |unexpected error/.test(line));
    same(troubles, [], `the server logged errors; ${replay}`);
    assert.doesNotMatch(
      server.stderr.text,
      /panic|uncaught|error/i,
      `the server's stderr; ${replay}`,
    );

    const byKind = [...stats.cases].map(([k, n]) => `${k}=${n}`).join(", ");
    const errors = [...stats.errors].sort().map(([code, n]) => `${code}=${n}`).join(", ");
    const closes = [...stats.closeCodes].sort().map(([code, n]) => `${code}=${n}`).join(", ");
    const totalCases = [...stats.cases.values()].reduce((sum, n) => sum + n, 0);
    console.log(
      `fuzz done: seed=${seed} seconds=${seconds} cases=${totalCases} (${byKind}) ` +
        `connections=${stats.connections} frames=${stats.frames} bytes=${stats.bytes} ` +
        `payloads: modelled=${stats.modelled} fuzzed=${stats.fuzzed}; ` +
        `broadcasts checked=${(sent[0] + sent[1]) * 3} (wb-a ${sent[0]} + wb-b ${sent[1]}, ` +
        `at 3 clients), fuzz broadcasts cross-checked=${registry.size} of ` +
        `${stats.ownBroadcasts} seen, hub events compared=${hubEvents[0].length}; ` +
        `errors received: ${errors}; WebSocket pongs=${stats.websocketPongs}, ` +
        `Close codes received: ${closes}`,
    );
  }
});
