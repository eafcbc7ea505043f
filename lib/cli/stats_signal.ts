/**
 * The signal that asks a running server for its counters, as `kill -USR2 <pid>`. Not
 * SIGUSR1: since Deno 2.9.2 that one also opens V8's inspector on 127.0.0.1:9229, to
 * anyone on the machine, without a password. Windows has no such signal: undefined.
 */
export const STATS_SIGNAL: Deno.Signal | undefined = Deno.build.os === "windows"
  ? undefined
  : "SIGUSR2";
