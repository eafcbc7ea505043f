import { DEFAULT_MAX_CONTENT_BYTES, DEFAULT_MAX_FRAME_BYTES } from "../protocol/limits.ts";

/** How the server runs. Every field has a default, so `{}` is a working server. */
export interface ServerOptions {
  /** The address to listen on. @default "0.0.0.0" (every interface) */
  host: string;
  /** The TCP port; 0 picks a free one. @default 8080, as the original program */
  port: number;
  /** The largest frame payload accepted; a larger one closes the connection. @default 65536 */
  maxFrameBytes: number;
  /** The largest Chat.content, in UTF-8 bytes. @default 4096 */
  maxContentBytes: number;
  /** Connections served at once; one more gets SERVER_FULL. @default 10000 */
  maxConnections: number;
  /** Bytes waiting to be written to one client beyond which it is cut with SLOW_CONSUMER. @default 4 MiB */
  maxQueueBytes: number;
  /** Seconds a shutdown waits for queued frames to be written before it closes anyway. @default 10 */
  shutdownTimeoutSeconds: number;
  /** @default "text" */
  logFormat: "text" | "json";
  /** Leaves out the per-connection lines; start-up, shutdown and problems are still logged. @default false */
  quiet: boolean;
}

export const DEFAULT_SERVER_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  host: "0.0.0.0",
  port: 8080,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxContentBytes: DEFAULT_MAX_CONTENT_BYTES,
  maxConnections: 10000,
  maxQueueBytes: 4 * 1024 * 1024,
  shutdownTimeoutSeconds: 10,
  logFormat: "text",
  quiet: false,
});
