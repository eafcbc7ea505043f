import { formatHostPort } from "../net/format_host_port.ts";

/**
 * The addresses people can type into a client to reach a server listening on
 * `hostname:port`: for a wildcard address, loopback and every LAN IPv4 address.
 */
export function clientAddresses(hostname: string, port: number): string[] {
  if (hostname !== "0.0.0.0" && hostname !== "::") return [formatHostPort(hostname, port)];
  const addresses = ["127.0.0.1"];
  // Asked first: without --allow-sys, Deno would stop at a prompt on a terminal. The tasks
  // and programs grant it; `deno run --allow-net server.ts` just shows loopback alone.
  const granted =
    Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state === "granted";
  for (const { family, address } of granted ? Deno.networkInterfaces() : []) {
    if (family === "IPv4" && !address.startsWith("127.") && !addresses.includes(address)) {
      addresses.push(address);
    }
  }
  return addresses.map((address) => formatHostPort(address, port));
}
