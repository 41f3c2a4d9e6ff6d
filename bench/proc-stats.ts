import fs from 'node:fs';

/**
 * CPU and memory of another process, read from /proc (Linux): the figures a Kubernetes pod's cAdvisor would show
 * for the server under load, so the sidecar's cost can be compared with Dapr's published mCPU and RSS.
 */

/** Clock ticks per second of /proc/<pid>/stat's utime/stime (USER_HZ, 100 on every mainstream Linux build). */
const CLK_TCK = 100;

/** CPU seconds (user + system, all threads) used so far by `pid`. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: count fields after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size of `pid` in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** CPU and RSS of a process over a measured window. */
export interface ProcWindow {
  /** Average CPU over the window in milli-CPUs (1000 = one core busy). */
  mcpu: number;
  /** Highest RSS sampled during the window, bytes. */
  peakRss: number;
  /** RSS at the end of the window, bytes. */
  endRss: number;
}

/**
 * Watch `pid` from `start()` to `stop()`: CPU from the utime+stime delta over wall time, RSS sampled every
 * `sampleMs` (its peak and final value).
 */
export function watchProcess(pid: number, sampleMs = 250): { start(): void; stop(): ProcWindow } {
  let cpu0 = 0;
  let t0 = 0;
  let peak = 0;
  let timer: NodeJS.Timeout | undefined;
  return {
    start() {
      cpu0 = cpuSeconds(pid);
      t0 = performance.now();
      peak = rssBytes(pid);
      timer = setInterval(() => {
        peak = Math.max(peak, rssBytes(pid));
      }, sampleMs);
    },
    stop() {
      if (timer) clearInterval(timer);
      const cpu = cpuSeconds(pid) - cpu0;
      const wall = (performance.now() - t0) / 1000;
      const endRss = rssBytes(pid);
      return { mcpu: wall > 0 ? (cpu / wall) * 1000 : 0, peakRss: Math.max(peak, endRss), endRss };
    },
  };
}
