import { writeTextSync } from "../util/write_text_sync.ts";
export type LogLevel = "info" | "notice" | "warn" | "error";
export type LogFields = Record<string, string | number | bigint | boolean | undefined>;

/** The server's log. `info` is per-connection chatter; `notice` is the server's lifecycle. */
export interface Logger {
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  /** @default "text" */
  format?: "text" | "json";
  /** Drops `info` lines. @default false */
  quiet?: boolean;
  /** Where lines go. @default standard output */
  write?: (line: string) => void;
  /**
   * The worker thread logging (see ServerOptions.workers): a `worker` field in JSON, a
   * "[worker 2] " prefix in text. @default undefined (the only thread, or the main one)
   */
  worker?: number;
}

let stdoutBroken = false;

/**
 * A log line must never take the server down: when standard output is gone (a
 * closed pipe, a closed console), logging stops and serving goes on.
 */
function writeStdout(line: string): void {
  if (stdoutBroken) return;
  try {
    writeTextSync(Deno.stdout, line + "\n");
  } catch {
    stdoutBroken = true;
  }
}

/** A logger writing one line per entry, as plain text or as JSON objects. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { format = "text", quiet = false, write = writeStdout, worker } = options;
  const prefix = worker === undefined ? "" : `[worker ${worker}] `;
  return {
    log(level, event, message, fields = {}) {
      if (quiet && level === "info") return;
      const time = new Date().toISOString();
      if (format === "json") {
        write(JSON.stringify(
          { time, level, event, message, worker, ...fields },
          (_key, value) => typeof value === "bigint" ? Number(value) : value,
        ));
      } else {
        const marker = level === "warn" ? " WARN" : level === "error" ? " ERROR" : "";
        write(`${time}${marker} ${prefix}${message}`);
      }
    },
  };
}
