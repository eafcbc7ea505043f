import { formatHostPort } from "../net/format_host_port.ts";

/**
 * The addresses people can type into a client to reach a server listening on
 * `hostname:port`: for a wildcard address, loopback and every LAN IPv4 address.
 */
export function clientAddresses(hostname: string, port: number): string[] {
  if (hostname !== "0.0.0.0" && hostname !== "::") return [formatHostPort(hostname, port)];
  const addresses = ["127.0.0.1"];
  try {
    for (const { family, address } of Deno.networkInterfaces()) {
      if (family === "IPv4" && !address.startsWith("127.") && !addresses.includes(address)) {
        addresses.push(address);
      }
    }
  } catch {
    // Without --allow-sys the LAN addresses are unknown; loopback still works.
  }
  return addresses.map((address) => formatHostPort(address, port));
}
