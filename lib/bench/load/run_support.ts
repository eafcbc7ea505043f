/** What every scenario's coordinator does around its workers. */
import { onStopSignal } from "../../cli/shutdown_signals.ts";
import { toolCpu } from "./cpu_usage.ts";
import { cpuSecondsOf, machineTicks, openFileLimits, ownCpuSeconds } from "./proc.ts";
import type { ServerUnderTest } from "./server_under_test.ts";
import type { WorkerPool } from "./worker_protocol.ts";

/** How long workers may take to connect their clients before the run is given up. */
export const SETUP_MS = 180_000;
/**
 * How long, after publishing stops, receivers may take to get what was sent. Generous: a
 * drain ends as soon as everything has arrived, and a machine busy with other work is slow.
 */
export const DRAIN_MS = 15_000;

/** Connections per loopback source address: one address has about 28000 source ports. */
const CONNECTIONS_PER_ADDRESS = 8000;

/** The loopback source address for connection number `index`: 127.0.0.1, then .2, ... */
export function loopbackAddress(index: number): string {
  return `127.0.0.${1 + Math.floor(index / CONNECTIONS_PER_ADDRESS)}`;
}

/** `count` split over `parts` as evenly as possible: share of part `index`. */
export function share(count: number, parts: number, index: number): number {
  return Math.floor(count / parts) + (index < count % parts ? 1 : 0);
}

/** Sockets a worker may hold besides its connections: stdio, Deno's own, a margin. */
const SPARE_FILES = 64;

/**
 * Fails with what to do when a worker could not open `sockets` connections under the
 * soft open-file limit, which Deno cannot raise itself.
 */
export function checkOpenFiles(sockets: number, processes: number): void {
  const limits = openFileLimits();
  if (limits === undefined || sockets + SPARE_FILES <= limits.soft) return;
  const needed = sockets + SPARE_FILES;
  const advice = needed <= limits.hard
    ? `run \`ulimit -n ${limits.hard}\` in this shell first`
    : `use more --processes (now ${processes}) so each holds fewer`;
  throw new UsageError(
    `each worker process needs about ${needed} open files, but the limit is ${limits.soft} ` +
      `(hard limit ${limits.hard}): ${advice}`,
  );
}

/**
 * Worker processes needed for `sockets` connections in all under the soft open-file
 * limit: what a scenario uses when --processes is not given.
 */
export function processesFor(sockets: number): number {
  const soft = openFileLimits()?.soft ?? Infinity;
  return Math.max(1, Math.ceil(sockets / Math.max(1, soft - SPARE_FILES)));
}

/** Warns when the server the bench started cannot hold `sockets` connections. */
export function warnIfServerShort(server: ServerUnderTest, sockets: number): void {
  const limits = server.pid === undefined ? undefined : openFileLimits(server.pid);
  if (limits === undefined || sockets + SPARE_FILES <= limits.soft) return;
  console.error(
    `note: the server's open-file limit is ${limits.soft}, short of ${sockets} connections ` +
      "plus its own files: expect some to fail",
  );
}

/**
 * What a scenario's coordinator runs in, besides its options: the server under test, how
 * many workers, how to print, and where to hand its workers for Ctrl+C.
 */
export interface Harness {
  server: ServerUnderTest;
  /** Worker processes to spread the clients over. */
  processes: number;
  /** Print one JSON object instead of a table. */
  json: boolean;
  /** Hands over the workers once started, for Ctrl+C to kill. */
  setPool: (pool: WorkerPool) => void;
}

/** A request the tool cannot carry out as asked; exits 2, like a bad option. */
export class UsageError extends Error {}

/** Elapsed time and CPU of the bench's processes and of the server, over a measured span. */
export class Span {
  readonly #start = performance.now();
  readonly #ownCpu = ownCpuSeconds();
  readonly #serverCpu: number;
  readonly #machine = machineTicks();

  constructor(readonly server: ServerUnderTest) {
    this.#serverCpu = server.pid === undefined ? NaN : cpuSecondsOf(server.pid);
  }

  /** `workerCpuSeconds`: what each worker measured over its part of the span. */
  end(workerCpuSeconds: number[]) {
    const serverCpu = this.server.pid === undefined ? NaN : cpuSecondsOf(this.server.pid);
    const machine = machineTicks();
    const busy = (machine.busy - this.#machine.busy) / (machine.total - this.#machine.total);
    const elapsedSeconds = (performance.now() - this.#start) / 1000;
    const ownCpu = ownCpuSeconds() - this.#ownCpu;
    return {
      /**
       * How busy all the machine's CPUs were, kernel work for loopback TCP included, which
       * neither process is charged for: near 100%, the machine itself was the limit.
       */
      machineBusyPercent: Number.isNaN(busy) ? null : busy * 100,
      elapsedSeconds,
      benchCpuSeconds: workerCpuSeconds.reduce((a, b) => a + b, ownCpu),
      serverCpuSeconds: Number.isNaN(serverCpu) ? null : serverCpu - this.#serverCpu,
      /** Per process, since one process at a full CPU limits the run however idle the rest. */
      toolCpu: toolCpu(ownCpu, workerCpuSeconds, elapsedSeconds),
    };
  }
}

/** Ctrl+C (or SIGTERM) kills the workers and the server before the tool exits. */
export function stopOnSignal(server: ServerUnderTest, workers: () => WorkerPool | undefined) {
  return onStopSignal(async () => {
    workers()?.kill();
    await server[Symbol.asyncDispose]();
    Deno.exit(130);
  });
}
