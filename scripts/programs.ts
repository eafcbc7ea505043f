/** The two programs we ship, and the permissions each one needs, per OS. */
export interface Program {
  name: "server" | "client";
  entry: string;
  /**
   * What `deno compile` bakes in (permissions, unstable and V8 flags), and what tests grant
   * the bundle.
   */
  permissions(os: "windows" | "linux" | "darwin"): string[];
}

// FFI reads the Windows console (was it opened by a double-click?) and switches it to UTF-8.
const windowsConsole = (os: string) => os === "windows" ? ["--allow-ffi"] : [];

export const PROGRAMS: Program[] = [
  {
    name: "server",
    entry: "server.ts",
    // Listening, plus the network interfaces to print the LAN addresses clients can use (and
    // the host's name: both go into --tls-self-signed's certificate);
    // the environment for REDIS_URL and for the Redis client, which reads it all as it loads;
    // --unstable-net for --workers, whose listeners share the port (SO_REUSEPORT).
    // Files: any may be read, as --config may name a settings file anywhere, and the
    // server serves no file from disk (its page is built in); any may be written, for
    // --write-config and the history in --data-dir (the server drops the permission
    // before it opens a port when it keeps no history file). Both whole: a narrower grant
    // would fail as soon as --config or --data-dir names another folder.
    // V8's young generation is capped at 8 MiB a half (32 by default), and its old one may
    // grow by half before a full collection (up to 4 times by default): at 10,000 clients
    // under broadcast load the server then held 207-219 MiB over 30 s, where it grew from
    // 177 to 367 MiB, for the same throughput (BENCHMARKS.md). `deno task server` passes
    // the same flags.
    permissions: (os) => [
      "--v8-flags=--max-semi-space-size=8,--heap-growing-percent=50",
      "--allow-net",
      "--allow-sys=networkInterfaces,hostname",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--unstable-net",
      ...windowsConsole(os),
    ],
  },
  {
    name: "client",
    entry: "client.ts",
    // Files: --ca and --password-file may name any file. The one variable through which Deno
    // trusts the system's root certificates too, set before the first TLS connection.
    permissions: (os) => [
      "--allow-net",
      "--allow-read",
      "--allow-env=DENO_TLS_CA_STORE",
      ...windowsConsole(os),
    ],
  },
];

/** Where `deno task bundle` writes a program's single-file bundle. */
export function bundlePath(program: Program): string {
  return `dist/bundle/${program.name}.js`;
}
