import type { BroadcastLog } from "../../net/broadcast_log.ts";
import type { HubMember } from "../../server/hub.ts";

/**
 * A hub member with no socket: at each pass it takes the views of the log it is due, as a
 * session's queue hands them to its write, and keeps the last ones taken.
 */
export class ViewTakingMember implements HubMember {
  nickname: string;
  /** The views taken at each pass that had something for this member. */
  readonly writes: Uint8Array[] = [];
  /** Keep every pass's views in `writes`; off, a benchmark keeps nothing. */
  readonly #keep: boolean;
  #log: BroadcastLog | undefined;
  #position = 0;

  constructor(readonly id: bigint, keep = true) {
    this.nickname = `guest-${id}`;
    this.#keep = keep;
  }

  send(): void {}

  follow(log: BroadcastLog): void {
    this.#log = log;
    this.#position = log.head;
  }

  unfollow(): void {
    this.#log = undefined;
  }

  deliver(): number {
    const log = this.#log!;
    if (this.#position < log.head) {
      const views = log.views(this.#position);
      if (this.#keep) this.writes.push(...views);
    }
    this.#position = log.head;
    return this.#position;
  }
}
