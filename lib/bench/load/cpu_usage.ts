/**
 * Whether the load tool itself was the limit of a run. Each of its processes runs its
 * JavaScript on one thread, so one that kept a CPU busy for the whole measured span could
 * not have sent or read any faster: the figures then say how fast the tool is, not the
 * server, however idle the server was.
 */

/** A process this busy, in % of one CPU over the span, is taken to be the limit. */
export const BOTTLENECK_PERCENT = 90;

/** What to measure with instead: a native load generator that needs far less CPU. */
export const REFEREE = "../shared/bench/compare.sh (native loadgen)";

/** The CPU of the load tool's processes over a measured span. */
export interface ToolCpu {
  /** % of one CPU by process: "coordinator", "worker 1", "worker 2", ... */
  percentByProcess: Record<string, number>;
  /** The busiest process's %, and which it was. */
  maxPercent: number;
  busiest: string;
  /** True when the busiest process reached BOTTLENECK_PERCENT. */
  bottleneck: boolean;
}

/** `cpuSeconds` used over `elapsedSeconds`, in % of one CPU (above 100 with many threads). */
export function cpuPercent(cpuSeconds: number, elapsedSeconds: number): number {
  return elapsedSeconds > 0 ? cpuSeconds * 100 / elapsedSeconds : 0;
}

/**
 * The tool's CPU from what its coordinator and each of its workers used over the span. A
 * worker measures from "go" to its result, a little less than the span, so if anything its
 * % reads low.
 */
export function toolCpu(
  coordinatorCpuSeconds: number,
  workerCpuSeconds: number[],
  elapsedSeconds: number,
): ToolCpu {
  const percentByProcess: Record<string, number> = {
    coordinator: cpuPercent(coordinatorCpuSeconds, elapsedSeconds),
  };
  workerCpuSeconds.forEach((seconds, index) => {
    percentByProcess[`worker ${index + 1}`] = cpuPercent(seconds, elapsedSeconds);
  });
  const [busiest, maxPercent] = Object.entries(percentByProcess)
    .reduce((most, entry) => entry[1] > most[1] ? entry : most);
  return { percentByProcess, maxPercent, busiest, bottleneck: maxPercent >= BOTTLENECK_PERCENT };
}

/** What the table ends with when the tool was the limit, or undefined when it was not. */
export function bottleneckWarning(cpu: ToolCpu): string | undefined {
  if (!cpu.bottleneck) return undefined;
  return `warning: the load tool used ${cpu.maxPercent.toFixed(0)}% of a CPU (${cpu.busiest}): ` +
    "these figures are the load tool's limit, not the server's; " +
    `measure with ${REFEREE}`;
}
