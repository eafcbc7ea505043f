import assert from "node:assert/strict";
import { parseServerAddress } from "../../lib/cli/parse_server_address.ts";

const DEFAULTS = { hostname: "127.0.0.1", port: 8080 };

Deno.test("parseServerAddress - a bare number is a port on the default host", () => {
  assert.deepEqual(parseServerAddress("52150", DEFAULTS), { hostname: "127.0.0.1", port: 52150 });
  assert.deepEqual(parseServerAddress(" 1 ", DEFAULTS), { hostname: "127.0.0.1", port: 1 });
  assert.equal(parseServerAddress("0", DEFAULTS), undefined);
  assert.equal(parseServerAddress("65536", DEFAULTS), undefined);
});

Deno.test("parseServerAddress - hosts, ports and IPv6 addresses as people type them", () => {
  const cases: [string, { hostname: string; port: number } | undefined][] = [
    ["", DEFAULTS],
    ["chat.example.com", { hostname: "chat.example.com", port: 8080 }],
    ["192.168.1.23:52150", { hostname: "192.168.1.23", port: 52150 }],
    [":9000", { hostname: "127.0.0.1", port: 9000 }],
    ["[::1]:9000", { hostname: "::1", port: 9000 }],
    ["[::1]", { hostname: "::1", port: 8080 }],
    ["::1", { hostname: "::1", port: 8080 }],
    ["fe80::1", { hostname: "fe80::1", port: 8080 }],
    ["host:0", undefined],
    ["host:99999", undefined],
    ["two words", undefined],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseServerAddress(text, DEFAULTS), expected, text);
  }
});
