import assert from "node:assert/strict";
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { parseRedisUrl } from "../../lib/cli/option_parsers.ts";

Deno.test("parseRedisUrl - accepts redis and rediss URLs, returned as given", () => {
  for (
    const url of [
      "redis://127.0.0.1:6379",
      "redis://h",
      "rediss://user:pw@h:6380/2",
      "redis://h:6379/",
      "redis://h:6379/0",
      "redis://[::1]:6379",
    ]
  ) {
    assert.equal(parseRedisUrl(url), url);
  }
});

Deno.test("parseRedisUrl - rejects what is not a Redis URL with InvalidArgumentError", () => {
  for (
    const value of [
      "http://x",
      "https://h:6379",
      "localhost:6379",
      "127.0.0.1:6379",
      "redis://h:6379/abc",
      "redis://h:6379/0/1",
      "redis://",
      "redis://:pw@",
      "redis://h:99999",
      "",
    ]
  ) {
    assert.throws(() => parseRedisUrl(value), InvalidArgumentError, JSON.stringify(value));
  }
});

Deno.test("parseRedisUrl - says what it expected", () => {
  assert.throws(() => parseRedisUrl("localhost:6379"), {
    name: "InvalidArgumentError",
    message: /redis:\/\/127\.0\.0\.1:6379/,
  });
  assert.throws(() => parseRedisUrl("redis://h:6379/abc"), {
    name: "InvalidArgumentError",
    message: /database number/,
  });
});
