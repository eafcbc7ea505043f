import type { RunSettings } from "./fuzz_settings.ts";
import { Rng } from "./rng.ts";

const MAX_CASES = 1_000_000;

/** One case to run: its index in the run and the seed of its PRNG. */
export interface CaseSlot {
  index: number;
  seed: number;
}

/**
 * Runs cases, `concurrency` at a time, until the run's time is up (or only
 * FUZZ_CASE), stopping at the first failure. `run` throws to fail a case; the error
 * the loop throws names the seed and the case, so that the run can be replayed.
 */
export async function runCases(
  settings: RunSettings,
  concurrency: number,
  run: (slot: CaseSlot) => Promise<void>,
  /** Checked before each case: a reason to stop early (the server died, say). */
  halted: () => string | undefined = () => undefined,
): Promise<number> {
  const { seed, seconds, onlyCase } = settings;
  const master = new Rng(seed);
  const endAt = Date.now() + seconds * 1000;
  let nextIndex = 0;
  let failure: Error | undefined;
  const take = (): CaseSlot | undefined => {
    if (failure !== undefined || halted() !== undefined || nextIndex >= MAX_CASES) return;
    if (onlyCase !== undefined) {
      if (nextIndex > onlyCase) return;
      while (nextIndex < onlyCase) {
        master.uint32();
        nextIndex++;
      }
    } else if (Date.now() >= endAt) return;
    return { index: nextIndex++, seed: master.uint32() };
  };
  const worker = async () => {
    for (let slot = take(); slot !== undefined; slot = take()) {
      try {
        await run(slot);
      } catch (error) {
        failure ??= new Error(
          `fuzz seed=${seed} failed (replay with FUZZ_SEED=${seed}, or FUZZ_SEED=${seed} ` +
            `FUZZ_CASE=${slot.index} for this case alone):\n${(error as Error).message}`,
          { cause: error },
        );
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failure !== undefined) throw failure;
  return nextIndex;
}
