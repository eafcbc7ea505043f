import type { NicknameClaim } from "../backplane.ts";
import type { ServerOptions } from "../options.ts";

/** What the main thread tells a worker thread (see ServerOptions.workers). */
export type MainToWorker =
  /**
   * First: who the worker is, how to serve, and a port to each other worker (transferred).
   * It sets up its backplane, then says "ready".
   */
  | { type: "init"; worker: number; options: ServerOptions; peers: MessagePort[] }
  /** Once every worker is ready: listen on this port (the first worker's, when 0 was asked). */
  | { type: "listen"; port: number }
  | { type: "claim_answer"; id: number; claim: NicknameClaim }
  | { type: "stats" }
  | { type: "shutdown" };

/** What a worker thread tells the main thread. */
export type WorkerToMain =
  /** Listening to the other workers (or connected to Redis): it misses no event from now on. */
  | { type: "ready" }
  | {
    type: "listening";
    hostname: string;
    port: number;
    /** Where the HTTP gateway listens: the first worker's only. */
    http?: { hostname: string; port: number };
  }
  /** Cannot start: `message` is for the person starting the server. */
  | { type: "failed"; message: string }
  /** Claims a nickname key for `holder` ("node:sessionId"), releasing `previousKey`. */
  | { type: "claim"; id: number; key: string; holder: string; previousKey?: string }
  /** `holder` left: whatever nickname it held is free. */
  | { type: "release"; holder: string }
  | { type: "stopped" };
