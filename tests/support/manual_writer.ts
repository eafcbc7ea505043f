/** A ChunkWriter for unit tests whose writes are recorded and settled by hand. */
import type { ChunkWriter } from "../../lib/net/outbound_queue.ts";
import { framedPayloads } from "./framed_payloads.ts";

export interface ManualWrite {
  /** The runs of whole frames handed to the write, as given (not copied). */
  readonly framed: readonly Uint8Array[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
}

export class ManualWriter implements ChunkWriter {
  readonly calls: ManualWrite[] = [];
  inFlight = 0;
  maxInFlight = 0;

  write(framed: readonly Uint8Array[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const call: ManualWrite = {
      framed: [...framed],
      resolve: () => {
        if (call.settled) throw new Error("a write settled twice");
        call.settled = true;
        this.inFlight--;
        resolve();
      },
      reject: (error) => {
        if (call.settled) throw new Error("a write settled twice");
        call.settled = true;
        this.inFlight--;
        reject(error);
      },
      settled: false,
    };
    this.calls.push(call);
    return promise;
  }

  /** The write in flight, if any. */
  get current(): ManualWrite | undefined {
    const last = this.calls.at(-1);
    return last !== undefined && !last.settled ? last : undefined;
  }

  /** The payloads each write carried, as plain numbers. */
  batches(): number[][][] {
    return this.calls.map((call) => payloadsOf(call.framed).map((payload) => [...payload]));
  }

  /** Every payload written so far, in order. */
  payloads(): Uint8Array[] {
    return this.calls.flatMap((call) => payloadsOf(call.framed));
  }
}

/** The payloads of runs of whole frames. */
export function payloadsOf(framed: readonly Uint8Array[]): Uint8Array[] {
  return framed.flatMap((run) => framedPayloads(run));
}

/** Lets queued microtasks (and the promise chains they start) run; no timers involved. */
export async function settle(ticks = 20): Promise<void> {
  for (let i = 0; i < ticks; i++) await Promise.resolve();
}
