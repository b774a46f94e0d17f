// This machine's CPU as the benches read it: busy and total jiffies from /proc/stat (every node
// of the local cluster shares this kernel, so it is the whole cluster's CPU), and a sampler that
// keeps each second's busy share and 1-minute load average for a timeline.
import { readFileSync } from 'node:fs';

/** Busy and total jiffies of this machine (/proc/stat), for the CPU use over a phase. */
export function nodeCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
  const n = f.map(Number);
  const idle = n[3]! + n[4]!;
  const total = n.slice(0, 8).reduce((s, x) => s + x, 0);
  return { busy: total - idle, total };
}

export interface CpuSample {
  /** Epoch milliseconds at the end of the second. */
  t: number;
  /** Share of the machine's CPU time that was busy over that second, 0–1. */
  busy: number;
  /** 1-minute load average at that moment. */
  load1: number;
}

/** Samples the CPU once a second until stopped. */
export function cpuSampler(): { samples: CpuSample[]; stop(): void } {
  const samples: CpuSample[] = [];
  let prev = nodeCpu();
  const timer = setInterval(() => {
    const now = nodeCpu();
    const total = now.total - prev.total;
    samples.push({
      t: Date.now(),
      busy: total > 0 ? (now.busy - prev.busy) / total : 0,
      load1: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    });
    prev = now;
  }, 1000);
  timer.unref();
  return { samples, stop: () => clearInterval(timer) };
}
