import assert from "node:assert/strict";
import { StopRequests } from "../../lib/cli/stop_requests.ts";

function fakeClock() {
  const clock = { time: 5000, now: () => clock.time };
  return clock;
}

Deno.test("stop requests - the first signal asks for a graceful stop", () => {
  assert.equal(new StopRequests(fakeClock()).receive(), "stop");
});

Deno.test("stop requests - a second signal within a second is the same Ctrl+C again", () => {
  const clock = fakeClock();
  const requests = new StopRequests(clock);
  requests.receive();
  // deno task passes the terminal's SIGINT on: the child sees it twice, milliseconds apart.
  clock.time += 2;
  assert.equal(requests.receive(), "repeat");
  clock.time += StopRequests.REPEAT_WINDOW_MS - 3;
  assert.equal(requests.receive(), "repeat");
});

Deno.test("stop requests - a signal a second or more after the first forces the exit", () => {
  const clock = fakeClock();
  const requests = new StopRequests(clock);
  requests.receive();
  clock.time += 300;
  requests.receive();
  // Measured from the first: echoes of it do not push the window on.
  clock.time += StopRequests.REPEAT_WINDOW_MS - 300;
  assert.equal(requests.receive(), "force");
  clock.time += 5000;
  assert.equal(requests.receive(), "force");
});
