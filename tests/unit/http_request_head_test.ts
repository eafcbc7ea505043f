import assert from "node:assert/strict";
import { headEnd, HttpRequestError, HttpRequestHead } from "../../lib/server/http_request_head.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("http request head - the request line, headers, keep-alive and body", () => {
  const head = HttpRequestHead.parse(bytes(
    "GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nX-A: 1\r\nx-a: 2",
  ));
  assert.equal(head.method, "GET");
  assert.equal(head.path, "/ws");
  assert.equal(head.header("x-a"), "1, 2");
  assert.deepEqual(head.tokens("connection"), ["keep-alive", "upgrade"]);
  assert.equal(head.keepAlive, true);
  assert.equal(head.hasBody, false);
  assert.equal(
    HttpRequestHead.parse(bytes("GET / HTTP/1.1\r\nConnection: close")).keepAlive,
    false,
  );
  assert.equal(HttpRequestHead.parse(bytes("GET / HTTP/1.0")).keepAlive, false);
  assert.equal(
    HttpRequestHead.parse(bytes("GET / HTTP/1.0\r\nConnection: Keep-Alive")).keepAlive,
    true,
  );
  assert.equal(HttpRequestHead.parse(bytes("GET http://h:1/healthz HTTP/1.1")).path, "/healthz");
  assert.equal(HttpRequestHead.parse(bytes("GET / HTTP/1.1\r\nContent-Length: 3")).hasBody, true);
  assert.equal(HttpRequestHead.parse(bytes("GET / HTTP/1.1\r\nContent-Length: 0")).hasBody, false);
  assert.equal(
    HttpRequestHead.parse(bytes("GET / HTTP/1.1\r\nTransfer-Encoding: chunked")).hasBody,
    true,
  );
});

Deno.test("http request head - what is no HTTP/1.x request is a 400", () => {
  for (
    const text of [
      "GET / HTTP/2.0",
      "GET /",
      "GET  / HTTP/1.1",
      "GET * HTTP/1.1",
      "GET / HTTP/1.1\r\n folded: no",
      "GET / HTTP/1.1\r\nNo colon",
      "GET / HTTP/1.1\r\nBad name: x",
      "GET / HTTP/1.1\r\nX: a\nb",
    ]
  ) {
    assert.throws(
      () => HttpRequestHead.parse(bytes(text)),
      (error: unknown) => error instanceof HttpRequestError && error.status === 400,
      text,
    );
  }
  const badLength = HttpRequestHead.parse(bytes("GET / HTTP/1.1\r\nContent-Length: -1"));
  assert.throws(() => badLength.hasBody, HttpRequestError);
});

Deno.test("http request head - the head ends after its blank line, wherever reads split it", () => {
  const text = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nnext");
  assert.equal(headEnd(text, 0), text.length - 4);
  assert.equal(headEnd(text.subarray(0, 26), 0), -1);
  assert.equal(headEnd(text, 24), text.length - 4);
});
