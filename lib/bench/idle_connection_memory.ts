/**
 * `deno task bench:idle-memory`: what Deno itself costs per idle TCP connection, as a floor
 * for the server's own figure (BENCHMARKS.md). Opens N loopback connections to itself and,
 * on the accepted side, keeps one pending 512-byte read each and nothing else, as an idle
 * session does; then reports the growth of the JavaScript heap, of buffers and of RSS per
 * connection, after a forced GC.
 */
const connections = Number(Deno.args[0] ?? 4000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  throw new Error("Run with --v8-flags=--expose-gc (deno task bench:idle-memory does)");
}

function memory(): { heap: number; buffers: number; rss: number } {
  gc!();
  const { heapUsed, external, rss } = Deno.memoryUsage();
  return { heap: heapUsed, buffers: external, rss };
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const accepted: Deno.TcpConn[] = [];
const clients: Deno.TcpConn[] = [];
const accepting = (async () => {
  while (accepted.length < connections) accepted.push(await listener.accept());
})();
while (clients.length < connections) {
  clients.push(await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
}
await accepting;

const before = memory();
for (const conn of accepted) {
  const buffer = new Uint8Array(512);
  (async () => {
    try {
      while (await conn.read(buffer) !== null) { /* idle: nothing arrives */ }
    } catch {
      // Closed at exit.
    }
  })();
}
// Let every read start and park.
await new Promise((resolve) => setTimeout(resolve, 500));
const after = memory();
const per = (bytes: number) => Math.round(bytes / connections);
console.log(
  `${connections} idle connections, each with one pending 512-byte read: ` +
    `${per(after.heap - before.heap)} B of JavaScript heap, ` +
    `${per(after.buffers - before.buffers)} B of buffers, ` +
    `${per(after.rss - before.rss)} B of RSS per connection`,
);
Deno.exit(0);
