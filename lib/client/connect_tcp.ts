import { formatHostPort } from "../net/format_host_port.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { describeNetworkError } from "./describe_network_error.ts";
import { ConnectError } from "./errors.ts";

/** Opens a TCP connection by `deadline` (a Date.now() time), or throws ConnectError. */
export async function connectTcp(
  hostname: string,
  port: number,
  deadline: number,
): Promise<Deno.TcpConn> {
  const address = formatHostPort(hostname, port);
  const connecting = Deno.connect({ hostname, port, transport: "tcp" });
  let conn: Deno.TcpConn | undefined;
  let failure: unknown;
  const settled = await waitAtMost(
    connecting.then((c) => conn = c, (error) => failure = error),
    deadline - Date.now(),
  );
  if (!settled) {
    // Close the connection if it completes after we gave up on it.
    connecting.then((c) => c.close(), () => {});
    throw new ConnectError(`Cannot connect to ${address}: timed out`);
  }
  if (conn === undefined) {
    throw new ConnectError(`Cannot connect to ${address}: ${describeNetworkError(failure)}`, {
      cause: failure,
      // Run without --allow-net: no retry will be granted what the first was not.
      final: failure instanceof Deno.errors.NotCapable,
    });
  }
  return conn;
}
