import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Per-process CPU time and memory from Linux's /proc: the server's own cost, not the client's. */

const CLOCK_TICKS_PER_SECOND = clockTicksPerSecond();
// Fields after the command name (which may hold spaces and parentheses), from `state` on.
const UTIME_INDEX = 11;
const STIME_INDEX = 12;

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** User + system CPU time the process has used so far, in µs (resolution: one clock tick, usually 10 ms). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[UTIME_INDEX]) + Number(fields[STIME_INDEX]);
  if (!Number.isFinite(ticks)) throw new Error(`cannot read CPU time of process ${pid}`);
  return (ticks / CLOCK_TICKS_PER_SECOND) * 1e6;
}

/** Resident set size now, in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`cannot read VmRSS of process ${pid}`);
  return Number(match[1]) * 1024;
}

/** Polls RSS while a measurement runs and keeps the highest value seen. */
export class PeakRss {
  private peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 50,
  ) {
    this.peak = rssBytes(pid);
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, rssBytes(this.pid));
    } catch {
      // The server died mid-window; the load result will show the errors.
    }
  }
}
