// cgroup v1 housekeeping for the cluster: the processes of a subtree, freezing it, removing it.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const root = '/sys/fs/cgroup';

/** Every hierarchy mounted under /sys/fs/cgroup (cpu, memory, …, and named ones like systemd). */
function hierarchies(): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(root, e.name));
}

function walk(dir: string, visit: (d: string) => void): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name), visit);
  visit(dir);
}

/** PIDs in the cgroup `path` (e.g. /stackanetes/node-2) or below it, in the given hierarchy. */
export function cgroupPids(path: string, hierarchy = 'pids'): number[] {
  const pids = new Set<number>();
  walk(join(root, hierarchy, path), (d) => {
    try {
      for (const line of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n'))
        if (line) pids.add(Number(line));
    } catch {
      /* gone */
    }
  });
  return [...pids];
}

/** Removes an empty cgroup tree (deepest first) from every hierarchy; returns how many directories went. */
export function removeCgroupTree(path: string): number {
  let removed = 0;
  for (const h of hierarchies()) {
    const top = join(h, path);
    if (!existsSync(top)) continue;
    walk(top, (d) => {
      try {
        rmdirSync(d);
        removed++;
      } catch {
        /* still in use, or not a cgroup */
      }
    });
  }
  return removed;
}

/**
 * Power cut: freezes the subtree so nothing in it runs another instruction or forks, SIGKILLs
 * every process in it, thaws it so the kills are delivered, and waits until it is empty.
 */
export async function killCgroupTree(path: string, timeoutMs = 30_000): Promise<number> {
  const freezer = join(root, 'freezer', path, 'freezer.state');
  const frozen = existsSync(freezer);
  if (frozen) {
    writeFileSync(freezer, 'FROZEN');
    for (let i = 0; i < 100 && readFileSync(freezer, 'utf8').trim() !== 'FROZEN'; i++)
      await sleep(20);
  }
  const victims = cgroupPids(path);
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  if (frozen) writeFileSync(freezer, 'THAWED');
  const deadline = Date.now() + timeoutMs;
  while (cgroupPids(path).length > 0) {
    if (Date.now() > deadline)
      throw new Error(
        `processes of cgroup ${path} still alive after SIGKILL: ${cgroupPids(path).join(' ')}`,
      );
    for (const pid of cgroupPids(path)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(50);
  }
  return victims.length;
}

/** Sets a value in one hierarchy's cgroup, creating the cgroup if needed. */
export function setCgroupValue(hierarchy: string, path: string, file: string, value: string): void {
  const dir = join(root, hierarchy, path);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), value);
}

/**
 * The working set of a cgroup subtree in bytes (usage less inactive file cache), as the kubelet
 * counts memory; undefined when the cgroup does not exist.
 */
export function workingSetBytes(path: string): number | undefined {
  const dir = join(root, 'memory', path);
  try {
    const usage = Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8'));
    const inactive = /^total_inactive_file (\d+)$/m.exec(
      readFileSync(join(dir, 'memory.stat'), 'utf8'),
    );
    return Math.max(0, usage - Number(inactive?.[1] ?? 0));
  } catch {
    return undefined;
  }
}
