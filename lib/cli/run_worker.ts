import { ChatServer } from "../server/chat_server.ts";
import { connectRedisBackplane } from "./connect_redis_backplane.ts";
import { HistoryOpenError, openHistory } from "./open_history.ts";
import type { HistoryStore } from "../server/history/history_store.ts";
import { NullHistory } from "../server/history/null_history.ts";
import { type AccountStore, NoAccounts } from "../server/accounts/account_store.ts";
import { AccountsOpenError, openAccounts } from "./open_accounts.ts";
import { BackplaneConnectError, ListenError } from "../server/errors.ts";
import type { Backplane } from "../server/backplane.ts";
import { HttpGateway } from "../server/http_gateway.ts";
import { createLogger, type Logger } from "../server/logger.ts";
import type { ServerOptions } from "../server/options.ts";
import { WorkerBackplane } from "../server/workers/worker_backplane.ts";
import type { MainToWorker, WorkerToMain } from "../server/workers/worker_messages.ts";
import { describeError } from "../util/describe_error.ts";
import { listenFailure } from "./listen_failure.ts";
import { SilentUntilStarted } from "./silent_until_started.ts";

/** A worker thread's global scope, as far as we use it. */
interface WorkerScope {
  postMessage(message: WorkerToMain): void;
  addEventListener(type: "message", listener: (event: MessageEvent<MainToWorker>) => void): void;
}

/** True in a Web Worker: the server's script then runs as one thread of `--workers`. */
export function isWorkerThread(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown })
    .WorkerGlobalScope;
  return scope !== undefined && globalThis instanceof scope;
}

/**
 * One thread of a server run with `--workers` (runWorkers is the other half): a
 * ChatServer of its own on the shared port, with its backplane, and the HTTP gateway
 * in worker 1. It does what the main thread says: init, listen, stats, shutdown.
 */
export function runWorker(): void {
  const scope = globalThis as unknown as WorkerScope;
  const post = (message: WorkerToMain) => scope.postMessage(message);
  let worker = 0;
  let options: ServerOptions | undefined;
  let logger: Logger | undefined;
  let backplane: Backplane | undefined;
  let history: HistoryStore = new NullHistory();
  let accounts: AccountStore = new NoAccounts(
    "This server keeps no accounts: its workers share them through Redis (--redis) only",
  );
  let server: ChatServer | undefined;
  let gateway: HttpGateway | undefined;
  let stopping: PromiseLike<void> | undefined;

  // As in a server alone: a bug in one connection's handling must not take everyone's chat down.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger?.log("error", "unexpected", `unexpected error: ${describeError(event.reason)}`);
  });

  async function init(message: Extract<MainToWorker, { type: "init" }>): Promise<void> {
    worker = message.worker;
    options = message.options;
    logger = createLogger({ format: options.logFormat, quiet: options.quiet, worker });
    try {
      backplane = await connectBackplane(message, logger, post);
      // Workers share no file: history needs the cluster's store (see runWorkers).
      if (options.redisUrl !== undefined) {
        history = await openHistory(options, logger);
        accounts = await openAccounts(options, logger);
      }
    } catch (error) {
      return post({ type: "failed", message: startFailure(error) });
    }
    post({ type: "ready" });
  }

  async function listen(port: number): Promise<void> {
    const serverLogger = new SilentUntilStarted(logger!);
    try {
      server = new ChatServer(
        { ...options!, port, reusePort: true },
        serverLogger,
        backplane,
        history,
        accounts,
      );
    } catch (error) {
      return post({ type: "failed", message: startFailure(error, "chat") });
    }
    if (worker === 1 && options!.httpPort > 0) {
      try {
        gateway = new HttpGateway(server, {
          hostname: options!.host,
          port: options!.httpPort,
          allowedOrigins: options!.allowedOrigins,
          tls: options!.tls,
        }, serverLogger);
      } catch (error) {
        server.shutdown();
        return post({ type: "failed", message: startFailure(error, "http") });
      }
    }
    try {
      await server.ready;
      await gateway?.ready;
    } catch (error) {
      await (gateway ?? server).shutdown();
      return post({ type: "failed", message: startFailure(error, "chat") });
    }
    serverLogger.start();
    post({
      type: "listening",
      hostname: server.address.hostname,
      port: server.address.port,
      http: gateway && { hostname: gateway.address.hostname, port: gateway.address.port },
    });
  }

  async function shutdown(): Promise<void> {
    // The gateway's shutdown includes the chat server's, in the order that loses nothing.
    stopping ??= server !== undefined
      ? (gateway ?? server).shutdown()
      : backplane?.[Symbol.asyncDispose]() ?? Promise.resolve();
    await stopping;
    post({ type: "stopped" });
  }

  scope.addEventListener("message", ({ data: message }) => {
    switch (message.type) {
      case "init":
        return void init(message);
      case "listen":
        return listen(message.port);
      case "claim_answer":
        if (backplane instanceof WorkerBackplane) {
          backplane.claimAnswered(message.id, message.claim);
        }
        return;
      case "stats":
        return server?.logStats();
      case "shutdown":
        return void shutdown();
    }
  });
}

/**
 * With --redis each worker is a node of the cluster, with a Redis connection of its own;
 * otherwise the workers are the nodes, with a port to each other.
 */
async function connectBackplane(
  init: Extract<MainToWorker, { type: "init" }>,
  logger: Logger,
  post: (message: WorkerToMain) => void,
): Promise<Backplane> {
  const { options } = init;
  if (options.redisUrl === undefined) return new WorkerBackplane(init.worker, init.peers, post);
  for (const peer of init.peers) peer.close();
  return await connectRedisBackplane({ ...options, redisUrl: options.redisUrl }, logger);
}

/** Why a worker cannot start, in the words a server alone would use. */
function startFailure(error: unknown, listener?: "chat" | "http"): string {
  if (error instanceof ListenError && listener !== undefined) return listenFailure(error, listener);
  if (
    error instanceof BackplaneConnectError || error instanceof HistoryOpenError ||
    error instanceof AccountsOpenError
  ) {
    return error.message;
  }
  return `Unexpected error: ${error instanceof Error ? error.stack : String(error)}`;
}
