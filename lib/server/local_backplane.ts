import type { Backplane, BackplaneStats, NicknameClaim } from "./backplane.ts";

/** The backplane of a server that runs alone: there is nobody to tell. */
export class LocalBackplane implements Backplane {
  readonly node = 0;

  start(): void {}

  publish(): void {}

  claimNickname(): NicknameClaim {
    return "claimed";
  }

  stats(): BackplaneStats {
    return { state: "local", eventsPublished: 0, eventsReceived: 0, eventsDropped: 0, outages: 0 };
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
