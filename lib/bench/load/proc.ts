/** What Linux's /proc says about a process: CPU time, memory, the open-file limit. */
import process from "node:process";

/** Clock ticks per second in /proc/<pid>/stat: USER_HZ, 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

/** User plus system CPU seconds of this process, all threads. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** User plus system CPU seconds of process `pid`, or NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name in parentheses may hold spaces: count fields after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Resident memory of process `pid` in KiB, or NaN once it is gone. */
export function rssKiBOf(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/**
 * A process's soft and hard limits on open files (this one's by default). Deno cannot
 * raise them (no setrlimit), so the tool can only check and say what to run.
 */
export function openFileLimits(
  pid: number | "self" = "self",
): { soft: number; hard: number } | undefined {
  try {
    const limits = Deno.readTextFileSync(`/proc/${pid}/limits`);
    const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
    if (!match) return undefined;
    const parse = (value: string) => value === "unlimited" ? Infinity : Number(value);
    return { soft: parse(match[1]), hard: parse(match[2]) };
  } catch {
    return undefined;
  }
}

/** Busy and total CPU time of the whole machine so far, in ticks, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
    // "cpu user nice system idle iowait irq softirq steal ...": idle and iowait are idle.
    const ticks = line.split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { busy: total - ticks[3] - ticks[4], total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}
