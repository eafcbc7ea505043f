import assert from "node:assert/strict";
import { Action, ErrorCode, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { startWithHttp } from "../support/server_with_http.ts";
import { chat, flood } from "../support/messages.ts";
import { TestClient } from "../support/test_client.ts";
import { WebSocketTestClient } from "../support/websocket_test_client.ts";
import { parseMetrics } from "../support/raw_http.ts";

Deno.test("websocket - browser sessions are ordinary sessions: same hub as TCP, presence and who", async () => {
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  await using tcp = await TestClient.connect(server.port);
  await using web = await WebSocketTestClient.connect(httpPort);
  assert.equal(web.welcome.online, 2);
  assert.equal((await tcp.nextPresence(PresenceKind.JOINED)).sessionId, web.sessionId);

  web.send({ body: { case: "hello", value: { nickname: "webby" } } });
  assert.equal((await tcp.nextPresence(PresenceKind.RENAMED)).nickname, "webby");

  web.send(chat("from the browser", Action.BROADCAST, 1n));
  assert.equal((await tcp.next("chat")).fromNickname, "webby");
  assert.equal((await web.next("chat")).content, "from the browser");

  await tcp.send(chat("from the terminal", Action.BROADCAST, 1n));
  assert.equal((await web.next("chat")).content, "from the terminal");

  web.send(chat("just me", Action.ECHO, 2n));
  assert.equal((await web.next("chat")).action, Action.ECHO);
  web.send({ body: { case: "who", value: {} } });
  assert.deepEqual((await web.next("who")).users.map((u) => u.nickname), [
    tcp.welcome.nickname,
    "webby",
  ]);
  assert.ok(
    !tcp.received.some((m) => m.body.case === "chat" && m.body.value.content === "just me"),
  );
});

Deno.test("websocket - a bad payload gets MALFORMED and the session goes on; a text message is fatal", async () => {
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  await using web = await WebSocketTestClient.connect(httpPort);
  web.socket.send(new Uint8Array([0x12, 0x09, 0x0a]));
  const bad = await web.next("error");
  assert.equal(bad.code, ErrorCode.MALFORMED);
  assert.equal(bad.fatal, false);
  web.send({ body: { case: "ping", value: { nonce: 3n } } });
  assert.equal((await web.next("pong")).nonce, 3n);

  // Text is no frame of the protocol: refused by its header, before its bytes are read, it
  // ends the session, and the close says 1003 (unsupported data).
  web.socket.send("hello as text");
  const text = await web.next("error");
  assert.equal(text.code, ErrorCode.MALFORMED);
  assert.equal(text.fatal, true);
  assert.match(text.message, /^Cannot parse frame: a text message is not part of the protocol/);
  assert.equal(await web.closed, 1003);
});

Deno.test("websocket - the same limits: frame size (fatal), content size, rate", async () => {
  const { server, httpPort } = await startWithHttp([
    "--max-frame-bytes",
    "1000",
    "--max-content-bytes",
    "10",
    "--rate-limit",
    "1",
    "--rate-burst",
    "2",
  ]);
  await using _server = server;
  await using web = await WebSocketTestClient.connect(httpPort);
  web.send(chat("x".repeat(11), Action.ECHO, 1n));
  assert.equal((await web.next("error")).code, ErrorCode.CONTENT_TOO_LONG);
  web.send(chat("ok", Action.ECHO, 2n), chat("too fast", Action.ECHO, 3n));
  const limited = await web.next("error");
  assert.equal(limited.code, ErrorCode.RATE_LIMITED);
  assert.equal(limited.clientSeq, 3n);

  await using big = await WebSocketTestClient.connect(httpPort);
  big.socket.send(new Uint8Array(1001));
  const tooLarge = await big.next("error");
  assert.equal(tooLarge.code, ErrorCode.FRAME_TOO_LARGE);
  assert.equal(tooLarge.fatal, true);
  await big.closed;
});

Deno.test("websocket - an idle browser session gets IDLE_TIMEOUT", async () => {
  const { server, httpPort } = await startWithHttp(["--idle-timeout", "0.5"]);
  await using _server = server;
  await using web = await WebSocketTestClient.connect(httpPort);
  const error = await web.next("error");
  assert.equal(error.code, ErrorCode.IDLE_TIMEOUT);
  await web.closed;
});

Deno.test("websocket - a page from another site is refused (cross-site WebSocket hijacking)", async () => {
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  await assert.rejects(WebSocketTestClient.connect(httpPort, "http://evil.example"));
  const refused = await fetch(`http://127.0.0.1:${httpPort}/ws`, {
    headers: {
      origin: "http://evil.example",
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  // The server's own page (same host) and localhost pages are welcome.
  await using _own = await WebSocketTestClient.connect(httpPort, `http://127.0.0.1:${httpPort}`);
  await using local = await WebSocketTestClient.connect(httpPort, "http://localhost:3000");
  assert.equal(local.welcome.online, 2);
});

Deno.test("websocket - --allowed-origins replaces the default", async () => {
  const { server, httpPort } = await startWithHttp([
    "--allowed-origins",
    "https://chat.example.com",
  ]);
  await using _server = server;
  await using allowed = await WebSocketTestClient.connect(httpPort, "https://chat.example.com");
  assert.equal(allowed.welcome.online, 1);
  await assert.rejects(WebSocketTestClient.connect(httpPort, "http://localhost:3000"));
});

Deno.test("http - /healthz, the page at /, 404 elsewhere", async () => {
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), "ok\n");
  const page = await fetch(`http://127.0.0.1:${httpPort}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  // No other site may frame it (clickjacking).
  assert.match(page.headers.get("content-security-policy")!, /; frame-ancestors 'none'$/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.match(await page.text(), /<!doctype html>/i);
  const missing = await fetch(`http://127.0.0.1:${httpPort}/nope`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("http - /metrics is Prometheus text and its counters move", async () => {
  const { server, httpPort } = await startWithHttp();
  await using _server = server;
  const scrape = async () => {
    const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
    assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    return parseMetrics(await response.text());
  };
  const before = await scrape();
  assert.equal(before.get('chat_sessions{transport="websocket"}'), 0);
  assert.equal(before.get("chat_broadcasts_total"), 0);

  await using tcp = await TestClient.connect(server.port);
  await using web = await WebSocketTestClient.connect(httpPort);
  web.socket.send(new Uint8Array([0x12, 0x09, 0x0a])); // not a ClientMessage
  await web.next("error");
  web.send(chat("hi", Action.BROADCAST, 1n));
  await tcp.next("chat");

  const after = await scrape();
  assert.equal(after.get('chat_sessions{transport="websocket"}'), 1);
  assert.equal(after.get('chat_sessions{transport="tcp"}'), 1);
  assert.equal(after.get("chat_broadcasts_total"), 1);
  assert.equal(after.get('chat_errors_sent_total{code="MALFORMED"}'), 1);
  assert.ok(after.get("chat_frames_received_total")! >= 1);
  assert.ok(after.get("chat_bytes_sent_total")! > before.get("chat_bytes_sent_total")!);
  assert.ok(after.get("process_resident_memory_bytes")! > 0);
  assert.ok(after.has("chat_event_loop_lag_seconds"));
  assert.equal(after.get("chat_rate_limited_total"), 0);
  assert.equal(after.get("chat_slow_consumer_disconnects_total"), 0);
});

Deno.test("websocket - a shutdown tells browser sessions too, then closes them cleanly", async () => {
  const { server, httpPort } = await startWithHttp();
  await using web = await WebSocketTestClient.connect(httpPort);
  assert.equal((await server.stop("SIGINT")).code, 0);
  assert.equal(await web.closed, 1000);
  const last = web.received.at(-1)!;
  assert.ok(last.body.case === "error" && last.body.value.code === ErrorCode.SHUTTING_DOWN);
});

Deno.test("websocket - a browser that stops reading is cut as a slow consumer", async () => {
  const { server, httpPort } = await startWithHttp([
    "--write-timeout",
    "0.5",
    "--rate-limit",
    "0",
    "--log-format",
    "json",
  ]);
  await using _server = server;
  // A WebSocket handshake by hand, then never a read: the server's sends pile up.
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port: httpPort });
  const handshake = [
    "GET /ws HTTP/1.1",
    `Host: 127.0.0.1:${httpPort}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "",
    "",
  ].join("\r\n");
  await stuck.write(new TextEncoder().encode(handshake));
  await server.stdout.waitFor(/"event":"connect"/);
  await using talker = await TestClient.connect(server.port);
  await talker.send(...flood(4000));
  await talker.take("chat", 4000, 30_000);
  await server.stdout.waitFor(/"reason":"slow consumer"/);
  const stats = await server.stats();
  assert.equal(stats["disconnects.slow_consumer"], 1);
  assert.equal(stats["sessions.websocket"], 0);
  stuck.close();
});

Deno.test("http - /ws refuses HEAD, half-made upgrades (400, no stack trace) and a full server (503)", async () => {
  const { server, httpPort } = await startWithHttp(["--max-connections", "1"]);
  await using _server = server;
  const upgradeHeaders = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };
  const head = await fetch(`http://127.0.0.1:${httpPort}/ws`, {
    method: "HEAD",
    headers: upgradeHeaders,
  });
  assert.equal(head.status, 426);
  const halfMade = await fetch(`http://127.0.0.1:${httpPort}/ws`, {
    headers: { upgrade: "websocket" },
  });
  assert.equal(halfMade.status, 400);
  await halfMade.body?.cancel();
  assert.equal(server.stderr.text, "");

  await using first = await WebSocketTestClient.connect(httpPort);
  const full = await fetch(`http://127.0.0.1:${httpPort}/ws`, { headers: upgradeHeaders });
  assert.equal(full.status, 503);
  assert.match(await full.text(), /The server is full \(1 connection\)/);
  assert.equal(first.welcome.online, 1);
});
