// CPU and memory of a contender's server processes, read from /proc so that the load generator
// (other processes) never counts against the server.
import { readFileSync } from 'node:fs';

/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux that Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of one process in milliseconds; 0 once the process is gone. */
export function cpuMillis(pid: number): number {
  try {
    // The command name (field 2) may hold spaces: fields are counted after its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Resident set size of one process in kB (VmRSS); 0 once the process is gone. */
export function rssKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface MeterReading {
  /** CPU milliseconds all measured processes used between start() and stop(). */
  cpuMs: number;
  /** Highest sum of the processes' RSS seen while sampling, in MB. */
  peakRssMb: number;
  /** Sum of the processes' RSS at stop(), in MB. */
  endRssMb: number;
}

/**
 * Measures a fixed set of processes over a window: CPU as the difference of utime+stime, RSS as
 * the peak of sums sampled every `sampleMs` (default 200 ms; a short peak between samples is
 * missed, which is why the end value is reported beside it) and the sum at the end.
 */
export class ProcessMeter {
  readonly #pids: readonly number[];
  readonly #sampleMs: number;
  #startCpu = new Map<number, number>();
  #peakKb = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(pids: readonly number[], options: { sampleMs?: number } = {}) {
    this.#pids = pids;
    this.#sampleMs = options.sampleMs ?? 200;
  }

  start(): void {
    this.#startCpu = new Map(this.#pids.map((pid) => [pid, cpuMillis(pid)]));
    this.#peakKb = this.#sampleRss();
    this.#timer = setInterval(() => {
      this.#peakKb = Math.max(this.#peakKb, this.#sampleRss());
    }, this.#sampleMs);
  }

  stop(): MeterReading {
    clearInterval(this.#timer);
    let cpuMs = 0;
    for (const pid of this.#pids) cpuMs += cpuMillis(pid) - (this.#startCpu.get(pid) ?? 0);
    const endKb = this.#sampleRss();
    return { cpuMs, peakRssMb: Math.max(this.#peakKb, endKb) / 1024, endRssMb: endKb / 1024 };
  }

  #sampleRss(): number {
    return this.#pids.reduce((sum, pid) => sum + rssKb(pid), 0);
  }
}
