const KIB_PER_MIB = 1024;

/**
 * Samples a process's resident set size (VmRSS in /proc/<pid>/status) on a timer and
 * keeps the peak; VmHWM gives the kernel's own peak, between samples too.
 * It samples this process's RSS (Deno.memoryUsage) alongside, for context.
 */
export class RssSampler {
  readonly #pid: number;
  peakRssKib = 0;
  lastRssKib = 0;
  hwmKib = 0;
  testPeakRssBytes = 0;
  samples = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sampling: Promise<void> | undefined;

  constructor(pid: number) {
    this.#pid = pid;
  }

  start(intervalMs = 250): void {
    this.#timer = setInterval(() => {
      this.#sampling ??= this.sample().finally(() => this.#sampling = undefined);
    }, intervalMs);
  }

  /** Stops the timer and takes a last sample. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sampling;
    await this.sample();
  }

  async sample(): Promise<void> {
    this.testPeakRssBytes = Math.max(this.testPeakRssBytes, Deno.memoryUsage().rss);
    const status = await readProc(this.#pid, "status");
    if (status === undefined) return;
    const rss = statusKib(status, "VmRSS");
    const hwm = statusKib(status, "VmHWM");
    if (rss !== undefined) {
      this.lastRssKib = rss;
      this.peakRssKib = Math.max(this.peakRssKib, rss);
      this.samples++;
    }
    if (hwm !== undefined) this.hwmKib = Math.max(this.hwmKib, hwm);
  }

  get peakRssMib(): number {
    return this.peakRssKib / KIB_PER_MIB;
  }

  get hwmMib(): number {
    return this.hwmKib / KIB_PER_MIB;
  }

  get lastRssMib(): number {
    return this.lastRssKib / KIB_PER_MIB;
  }

  get testPeakRssMib(): number {
    return this.testPeakRssBytes / (KIB_PER_MIB * KIB_PER_MIB);
  }
}

/**
 * CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat;
 * undefined once it is gone. Assumes the usual USER_HZ of 100.
 */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readProc(pid, "stat");
  if (stat === undefined) return undefined;
  // After "pid (comm) ": state is field 3, utime 14 and stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * /proc/<pid>/<name>, or undefined once the process is gone. Deno lets only
 * --allow-all read /proc directly, so `cat` (--allow-run) reads it.
 */
async function readProc(pid: number, name: string): Promise<string | undefined> {
  try {
    const output = await new Deno.Command("cat", {
      args: [`/proc/${pid}/${name}`],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success ? new TextDecoder().decode(output.stdout) : undefined;
  } catch {
    return undefined; // No cat, or not Linux.
  }
}

/** A "Name:   1234 kB" line of /proc/<pid>/status, in KiB. */
function statusKib(status: string, name: string): number | undefined {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
  return match === null ? undefined : Number(match[1]);
}
