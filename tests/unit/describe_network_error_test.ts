import assert from "node:assert/strict";
import { describeNetworkError } from "../../lib/client/describe_network_error.ts";

/** An error as Deno throws it for a failed system call: its text, and the errno name. */
const systemError = (message: string, code?: string) => Object.assign(new Error(message), { code });

Deno.test("describeNetworkError - plain words for what a person can act on, never an os error", () => {
  const cases: [unknown, string][] = [
    [systemError("No route to host (os error 113)", "EHOSTUNREACH"), "no route to host"],
    [systemError("Network is unreachable (os error 101)", "ENETUNREACH"), "network unreachable"],
    [
      new Deno.errors.ConnectionRefused("Connection refused (os error 111)"),
      "connection refused - is the server running?",
    ],
    [new Deno.errors.TimedOut("Connection timed out (os error 110)"), "timed out"],
    [
      systemError("failed to lookup address information: Name or service not known"),
      "host not found",
    ],
    [
      systemError("failed to lookup address information: Temporary failure in name resolution"),
      "host not found",
    ],
    [systemError("Something new (os error 999)", "ESOMETHING"), "something new"],
    ["a string", "a string"],
  ];
  for (const [error, expected] of cases) assert.equal(describeNetworkError(error), expected);
});

Deno.test("describeNetworkError - what Deno.connect really throws for a closed port", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const error = await Deno.connect({ hostname: "127.0.0.1", port }).then(
    (conn) => conn.close(),
    (error) => error,
  );
  assert.equal(describeNetworkError(error), "connection refused - is the server running?");
});
