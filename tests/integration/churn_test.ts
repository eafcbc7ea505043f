import assert from "node:assert/strict";
import { PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

const CLEAN = 4000;
const RESETS = 3000;
const HALF_CLOSED = 3000;
const CONCURRENCY = 50;

/** Runs `cycle` `count` times, `CONCURRENCY` at once. */
async function repeat(count: number, cycle: () => Promise<void>): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (started < count) {
      started++;
      await cycle();
    }
  }));
}

/** Reads until the server closes the connection. */
async function drain(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  try {
    while (await conn.read(buffer) !== null) { /* discard */ }
  } catch {
    // A reset ends it too.
  }
}

/** One round: CLEAN clean closes, RESETS resets mid-frame and HALF_CLOSED half-closes, all at once. */
async function churn(port: number): Promise<void> {
  const cleanCycles = repeat(CLEAN, async () => {
    const client = await TestClient.connect(port);
    await client[Symbol.asyncDispose]();
  });
  // Python can set SO_LINGER to 0, which makes close() send a reset; Deno cannot.
  const resets = new Deno.Command("python3", {
    args: [
      "-c",
      [
        "import socket, struct, sys",
        "for _ in range(int(sys.argv[2])):",
        "    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))",
        "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))",
        "    s.recv(1)",
        "    s.send(bytes([50, 0x12, 0x05]))  # a 50-byte frame, 2 bytes of it",
        "    s.close()",
      ].join("\n"),
      String(port),
      String(RESETS),
    ],
    stdin: "null",
  }).output();
  const halfClosedCycles = repeat(HALF_CLOSED, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new Uint8Array([20, 0x12])); // part of a frame, then no more
    await conn.closeWrite();
    await drain(conn);
    conn.close();
  });
  const [resetRun] = await Promise.all([resets, cleanCycles, halfClosedCycles]);
  assert.ok(resetRun.success, new TextDecoder().decode(resetRun.stderr));
}

Deno.test("churn - 3 x 10,000 connects and disconnects (clean, reset mid-frame, half-closed) leave nothing behind", async () => {
  await using server = await ServerProcess.start(["--log-format", "json", "--quiet"]);
  await using observer = await TestClient.connect(server.port);
  const presenceOf = (kind: PresenceKind) =>
    observer.received.filter((m) => m.body.case === "presence" && m.body.value.kind === kind)
      .length;
  const rssMiB: number[] = [];

  for (let round = 1; round <= 3; round++) {
    await churn(server.port);
    // Every session that joined also left, as the observer saw it.
    const total = round * (CLEAN + RESETS + HALF_CLOSED);
    await observer.nextMatching(
      () => presenceOf(PresenceKind.LEFT) === total,
      60_000,
      `${total} LEFT`,
    );
    assert.equal(presenceOf(PresenceKind.JOINED), total);
    await observer.send({ body: { case: "who", value: {} } });
    assert.deepEqual((await observer.next("who")).users.map((u) => u.sessionId), [
      observer.sessionId,
    ]);

    const after = await server.stats();
    assert.equal(after.sessions, 1);
    assert.equal(after.sessions_opened, total + 1);
    rssMiB.push(after.rss_bytes / 1048576);
    const disconnects = Object.entries(after).filter(([key]) => key.startsWith("disconnects."));
    console.log(
      `churn round ${round}: ${total} cycles so far; rss ${rssMiB.at(-1)!.toFixed(1)} MiB; ` +
        JSON.stringify(Object.fromEntries(disconnects)),
    );
  }
  // The first rounds grow the heap to its working size (it settled by the second in runs of
  // five); a leak would keep growing it. Leaking even 2 KiB per session would add 20 MiB.
  const growth = rssMiB[2] - rssMiB[1];
  assert.ok(growth < 20, `RSS grew by ${growth.toFixed(1)} MiB in the third round`);
});
