import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind, type ServerMessage } from "../../gen/chat/v1/chat_pb.ts";
import { NODE_ID_SPACE } from "../../lib/server/chat_server.ts";
import { RedisProcess } from "../support/redis_process.ts";
import { ServerProcess } from "../support/server_process.ts";
import { WORKERS_LAUNCHER } from "../support/workers_launcher.ts";
import { connectMany, TestClient } from "../support/test_client.ts";
import { chat } from "../support/messages.ts";

/** No rate limits: the tests send and rename as fast as they can. */
const SERVER_ARGS = ["--workers", "2", "--rate-limit", "0", "--rename-limit", "0", "--quiet"];

const hello = (nickname: string) => ({ body: { case: "hello" as const, value: { nickname } } });
const ping = (nonce: bigint) => ({ body: { case: "ping" as const, value: { nonce } } });
const who = { body: { case: "who" as const, value: {} } };

/** The node a session was served by: its worker, or its Redis server number. */
const nodeOf = (client: TestClient) => Number(client.sessionId % BigInt(NODE_ID_SPACE));

function startWorkers(args: string[] = []): Promise<ServerProcess> {
  return ServerProcess.start([...SERVER_ARGS, ...args], WORKERS_LAUNCHER);
}

/** One client of each worker, out of 20 clients (the kernel shares connections out by hash). */
async function oneOnEach(stack: AsyncDisposableStack, port: number) {
  const clients = await connectMany(stack, port, 20);
  const first = clients.find((client) => nodeOf(client) === 1);
  const second = clients.find((client) => nodeOf(client) === 2);
  assert.ok(first && second, `workers of 20 clients: ${clients.map(nodeOf)}`);
  return { clients, first, second };
}

/** Waits until `client` has had the answer to a ping sent now: what came before it is in. */
async function roundTrip(client: TestClient, nonce: bigint): Promise<void> {
  await client.send(ping(nonce));
  await client.nextMatching(
    (m) => m.body.case === "pong" && m.body.value.nonce === nonce,
    10_000,
    `pong ${nonce}`,
  );
}

const chats = (client: TestClient) =>
  client.received.flatMap((m) => m.body.case === "chat" ? [m.body.value] : []);

/** A message for an assertion's failure: bigints as numbers. */
const describe = (value: unknown) =>
  JSON.stringify(value, (_key, v) => typeof v === "bigint" ? Number(v) : v);

const isPresence = (message: ServerMessage, kind: PresenceKind, sessionId: bigint) =>
  message.body.case === "presence" && message.body.value.kind === kind &&
  message.body.value.sessionId === sessionId;

Deno.test("workers - clients spread over both; a broadcast reaches every client once, in each sender's order", async () => {
  await using server = await startWorkers();
  await using stack = new AsyncDisposableStack();
  const { clients, first, second } = await oneOnEach(stack, server.port);
  assert.deepEqual(new Set(clients.map(nodeOf)), new Set([1, 2]));

  // Enough to put a worker far behind the other: no event may be dropped for all that.
  const count = 1000;
  const sends = [first, second].map((sender) =>
    sender.send(
      ...Array.from(
        { length: count },
        (_, i) => chat(`${sender.sessionId}:${i + 1}`, Action.BROADCAST, BigInt(i + 1)),
      ),
    )
  );
  await Promise.all(sends);
  await Promise.all(clients.map((client) => client.take("chat", 2 * count)));
  // Anything sent twice would be in by now: the pong comes after it on the same worker.
  await Promise.all(clients.map((client, i) => roundTrip(client, BigInt(i + 1))));
  for (const client of clients) {
    const received = chats(client);
    assert.equal(received.length, 2 * count, `client ${client.sessionId}`);
    for (const sender of [first, second]) {
      const seqs = received.filter((event) => event.fromSessionId === sender.sessionId)
        .map((event) => Number(event.clientSeq));
      assert.deepEqual(seqs, Array.from({ length: count }, (_, i) => i + 1));
    }
  }
});

Deno.test("workers - JOINED, LEFT, who and Welcome.online span the workers", async () => {
  await using server = await startWorkers();
  await using stack = new AsyncDisposableStack();
  const { clients, first, second } = await oneOnEach(stack, server.port);
  // A chat from each worker, sent after every arrival, comes after them on the channel too:
  // once both are in, each worker knows everyone.
  await first.send(chat("after the arrivals", Action.BROADCAST, 1n));
  await second.send(chat("after the arrivals", Action.BROADCAST, 1n));
  await Promise.all([first, second].map((client) => client.take("chat", 2)));
  const everyone = clients.map((client) => client.sessionId).sort();
  for (const client of [first, second]) {
    await client.send(who);
    const users = (await client.next("who")).users.map((user) => user.sessionId).sort();
    assert.deepEqual(users, everyone, `who on worker ${nodeOf(client)}`);
  }

  const newcomer = stack.use(await TestClient.connect(server.port));
  assert.equal(newcomer.welcome.online, clients.length + 1);
  const other = nodeOf(newcomer) === 1 ? second : first;
  const joined = await other.seen((m) => isPresence(m, PresenceKind.JOINED, newcomer.sessionId));
  assert.equal(joined.body.case === "presence" && joined.body.value.online, clients.length + 1);
  await newcomer[Symbol.asyncDispose]();
  await other.seen((m) => isPresence(m, PresenceKind.LEFT, newcomer.sessionId));
});

Deno.test("workers - nicknames are unique across workers, and free again when their holder leaves", async () => {
  await using server = await startWorkers();
  await using stack = new AsyncDisposableStack();
  const { first, second } = await oneOnEach(stack, server.port);

  await first.send(hello("alice"));
  assert.equal((await first.nextPresence(PresenceKind.RENAMED)).nickname, "alice");
  await second.send(hello("ALICE"));
  assert.equal((await second.next("error")).code, ErrorCode.NICKNAME_TAKEN);

  // At the same moment, neither worker knows of the other's claim: the main thread decides.
  for (let round = 0; round < 10; round++) {
    const name = `bob${round}`;
    await Promise.all([first.send(hello(name)), second.send(hello(name))]);
    const answers = await Promise.all([first, second].map((client) =>
      client.nextMatching(
        (m) =>
          (m.body.case === "presence" && m.body.value.kind === PresenceKind.RENAMED &&
            m.body.value.sessionId === client.sessionId) || m.body.case === "error",
      )
    ));
    const won = answers.filter((m) => m.body.case === "presence");
    const lost = answers.filter((m) =>
      m.body.case === "error" && m.body.value.code === ErrorCode.NICKNAME_TAKEN
    );
    assert.equal(won.length, 1, `round ${round}: ${describe(answers.map((m) => m.body))}`);
    assert.equal(lost.length, 1);
  }

  // A holder's departure frees its name on every worker.
  const holder = stack.use(await TestClient.connect(server.port));
  await holder.send(hello("carol"));
  await holder.nextPresence(PresenceKind.RENAMED);
  const other = nodeOf(holder) === 1 ? second : first;
  await holder[Symbol.asyncDispose]();
  await other.seen((m) => isPresence(m, PresenceKind.LEFT, holder.sessionId));
  await other.send(hello("carol"));
  const renamed = await other.nextMatching((m) =>
    (isPresence(m, PresenceKind.RENAMED, other.sessionId) &&
      m.body.case === "presence" && m.body.value.nickname === "carol") || m.body.case === "error"
  );
  assert.equal(renamed.body.case, "presence", describe(renamed.body));
});

Deno.test("workers - SIGINT: every client of every worker gets SHUTTING_DOWN, exit 0; start-up lines once", async () => {
  const server = await startWorkers();
  await using stack = new AsyncDisposableStack();
  const { clients } = await oneOnEach(stack, server.port);
  const farewells = clients.map((client) => client.next("error", 20_000));
  const status = await server.stop("SIGINT");
  assert.equal(status.code, 0, server.stderr.text);
  for (const farewell of await Promise.all(farewells)) {
    assert.equal(farewell.code, ErrorCode.SHUTTING_DOWN);
  }
  await Promise.all(clients.map((client) => client.closed));

  const lines = server.stdout.lines;
  const index = (text: string) => {
    const found = lines.filter((line) => line.includes(text));
    assert.equal(found.length, 1, `"${text}" once in:\n${lines.join("\n")}`);
    return lines.indexOf(found[0]);
  };
  const listening = index("listening on");
  const addresses = index("clients can connect to");
  const howToStop = index("press Ctrl+C to stop");
  assert.ok(listening < addresses && addresses < howToStop);
  assert.ok(lines.some((line) => line.includes("[worker 1] stopped")));
  assert.ok(lines.some((line) => line.includes("[worker 2] stopped")));
});

Deno.test("workers - JSON log lines say which worker", async () => {
  await using server = await startWorkers(["--log-format", "json"]);
  const stats = await server.stats();
  assert.ok(stats.worker === 1 || stats.worker === 2, JSON.stringify(stats));
  const listening = JSON.parse(await server.stdout.waitFor(/"event":"listening"/));
  assert.equal(listening.workers, 2);
  assert.equal(listening.worker, undefined);
});

Deno.test("workers - with --redis, 2 processes x 2 workers are 4 nodes: a broadcast reaches them all", async () => {
  await using redis = await RedisProcess.start();
  const args = ["--redis", redis.url];
  await using a = await startWorkers(args);
  await using b = await startWorkers(args);
  // Each worker joins the cluster as a server of its own.
  for (const server of [a, b]) {
    const firstJoin = await server.stdout.waitFor("joined the cluster");
    await server.stdout.waitFor(
      "joined the cluster",
      10_000,
      server.stdout.lines.indexOf(firstJoin) + 1,
    );
  }
  await using stack = new AsyncDisposableStack();
  const clients = [
    ...await connectMany(stack, a.port, 20),
    ...await connectMany(stack, b.port, 20),
  ];
  const nodes = new Set(clients.map(nodeOf));
  assert.equal(nodes.size, 4, `nodes of 40 clients: ${[...nodes]}`);

  const sender = clients[0];
  await sender.send(chat("to everyone", Action.BROADCAST, 1n));
  for (const client of clients) {
    const event = await client.next("chat");
    assert.equal(event.fromSessionId, sender.sessionId);
    assert.equal(event.content, "to everyone");
  }
  await Promise.all(clients.map((client, i) => roundTrip(client, BigInt(i + 1))));
  for (const client of clients) assert.equal(chats(client).length, 1);
});

Deno.test("workers - frames waiting behind a nickname claim keep their bytes when the next read lands", async () => {
  await using server = await startWorkers();
  await using client = await TestClient.connect(server.port);
  const echo = (content: string, clientSeq: bigint) => ({
    body: { case: "chat" as const, value: { content, action: Action.ECHO, clientSeq } },
  });
  // Two writes of the same length (a 15-character nickname, a 15-character client name): the
  // second read fills the read buffer where the first's chat, waiting for the claim to come
  // back from the other worker, was.
  for (let round = 0; round < 20; round++) {
    const seq = BigInt(round * 2);
    await client.send(
      hello(`claim${String(round).padStart(2, "0")}-padding`),
      echo("A".repeat(40), seq + 1n),
    );
    await client.send(
      { body: { case: "hello", value: { nickname: "", client: "fill-the-buffer" } } },
      echo("B".repeat(40), seq + 2n),
    );
    const [first, second] = await client.take("chat", 2);
    assert.deepEqual(
      [first.content, second.content],
      ["A".repeat(40), "B".repeat(40)],
      `round ${round}`,
    );
  }
});
