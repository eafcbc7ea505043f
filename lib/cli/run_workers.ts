import type { Logger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";
import { NicknameCoordinator } from "../server/workers/nickname_coordinator.ts";
import type { MainToWorker, WorkerToMain } from "../server/workers/worker_messages.ts";
import { waitAtMost } from "../util/wait_at_most.ts";
import { fail } from "./exit.ts";
import { onStopSignal } from "./shutdown_signals.ts";
import { announceServer } from "./announce_server.ts";
import { STATS_SIGNAL } from "./stats_signal.ts";

/** How long past --shutdown-timeout the workers may take to stop: their backplanes close too. */
const STOP_MARGIN_MS = 5000;

type Listening = Extract<WorkerToMain, { type: "listening" }>;

/** One worker thread, as the main thread sees it. */
class WorkerThread {
  readonly ready = Promise.withResolvers<void>();
  readonly listening = Promise.withResolvers<Listening>();
  readonly stopped = Promise.withResolvers<void>();

  constructor(readonly number: number, readonly worker: Worker) {}

  send(message: MainToWorker): void {
    this.worker.postMessage(message);
  }
}

/** Why the server must stop on its own. */
interface Failure {
  message: string;
  /** After start-up (a crash): the others are stopped gracefully and the exit code is 1. */
  worker: number;
}

/**
 * Runs `options.workers` threads, each a ChatServer on the same port (SO_REUSEPORT: the
 * kernel shares the connections out), until a stop signal; returns the exit code. The
 * main thread serves nobody: it starts the workers in step, answers their nickname
 * claims (one NicknameCoordinator for all), relays signals and waits for them to stop.
 *
 * `fingerprint`: a self-signed certificate's, for the start-up lines. `workerUrl` is the script each worker runs: the server's own (see server.ts), which
 * calls runWorker when it finds itself in a worker. One script is what a bundle or a
 * compiled executable can start again.
 */
export async function runWorkers(
  options: ServerOptions,
  logger: Logger,
  fingerprint?: string,
  workerUrl: string = Deno.mainModule,
): Promise<number> {
  if (options.historySize > 0 && options.redisUrl === undefined) {
    // Each worker numbering a room's messages on its own would give two the same number.
    logger.log(
      "notice",
      "history_off",
      "room history needs --redis when --workers is above 1: history is off",
      { workers: options.workers },
    );
  }
  // Without the flag, a listen with reusePort ends the whole process (exit code 70) rather
  // than throw; the flag's other APIs, such as listenDatagram, exist only with it.
  if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    return fail(
      "--workers needs Deno's --unstable-net flag (for SO_REUSEPORT): deno run --unstable-net ...",
    );
  }
  const coordinator = new NicknameCoordinator();
  const failure = Promise.withResolvers<Failure>();
  const threads: WorkerThread[] = [];
  for (let number = 1; number <= options.workers; number++) {
    const thread = new WorkerThread(
      number,
      new Worker(workerUrl, { type: "module", name: `worker ${number}` }),
    );
    thread.worker.onmessage = ({ data: message }: MessageEvent<WorkerToMain>) => {
      switch (message.type) {
        case "ready":
          return thread.ready.resolve();
        case "listening":
          return thread.listening.resolve(message);
        case "failed":
          return failure.resolve({ message: message.message, worker: number });
        case "claim":
          return thread.send({
            type: "claim_answer",
            id: message.id,
            claim: coordinator.claim(message.key, message.holder, message.previousKey),
          });
        case "release":
          return coordinator.release(message.holder);
        case "stopped":
          return thread.stopped.resolve();
      }
    };
    thread.worker.onerror = (event) => {
      // Handled here: otherwise the error would take the main thread down at once.
      event.preventDefault();
      // Out of the way at once: the kernel would go on handing it connections.
      thread.worker.terminate();
      thread.stopped.resolve();
      failure.resolve({ message: `worker ${number} crashed: ${event.message}`, worker: number });
    };
    threads.push(thread);
  }
  // A MessageChannel per pair of workers: every event reaches every other worker, in order.
  // With --redis there are none: each worker is a node of the cluster, and talks through Redis.
  const peers: MessagePort[][] = threads.map(() => []);
  if (options.redisUrl === undefined) {
    for (let i = 0; i < threads.length; i++) {
      for (let j = i + 1; j < threads.length; j++) {
        const { port1, port2 } = new MessageChannel();
        peers[i].push(port1);
        peers[j].push(port2);
      }
    }
  }
  for (const [i, thread] of threads.entries()) {
    const message: MainToWorker = { type: "init", worker: thread.number, options, peers: peers[i] };
    thread.worker.postMessage(message, peers[i]);
  }

  // Every worker listens to the others before any accepts a client: no early join is
  // missed. The first picks the port when 0 was asked for; the others share it.
  const starting = (async () => {
    await Promise.all(threads.map((thread) => thread.ready.promise));
    threads[0].send({ type: "listen", port: options.port });
    const first = await threads[0].listening.promise;
    for (const thread of threads.slice(1)) thread.send({ type: "listen", port: first.port });
    await Promise.all(threads.map((thread) => thread.listening.promise));
    return first;
  })();
  const started = await Promise.race([starting, failure.promise]);
  if (!("type" in started)) {
    for (const thread of threads) thread.worker.terminate();
    // From source, each worker loads the server's modules again, which takes --allow-read.
    return fail(started.message);
  }

  const stopRequested = Promise.withResolvers<void>();
  // The stats signal asks every worker for its counters, one line each.
  if (STATS_SIGNAL !== undefined) {
    Deno.addSignalListener(STATS_SIGNAL, () => {
      for (const thread of threads) thread.send({ type: "stats" });
    });
  }
  using _signals = onStopSignal(() => stopRequested.resolve());
  announceServer(logger, started, started.http, {
    workers: threads.length,
    tls: options.tls !== undefined,
    fingerprint,
  });

  const stop = await Promise.race([stopRequested.promise, failure.promise]);
  if (stop !== undefined) {
    logger.log("error", "worker_failed", `${stop.message}; stopping the server`, {
      worker: stop.worker,
    });
  }
  for (const thread of threads) thread.send({ type: "shutdown" });
  const stopped = await waitAtMost(
    Promise.all(threads.map((thread) => thread.stopped.promise)),
    options.shutdownTimeoutSeconds * 1000 + STOP_MARGIN_MS,
  );
  if (!stopped) logger.log("warn", "workers_late", "some workers did not stop in time; exiting");
  return stop === undefined ? 0 : 1;
}
