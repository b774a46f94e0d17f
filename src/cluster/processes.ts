// The cluster's host processes: started detached with their output in one log directory, each
// recorded by PID (with its start time, so a recycled PID is never mistaken for ours).
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface ProcessRecord {
  name: string;
  pid: number;
  startTime: string;
  command: string[];
  log: string;
}

/** A process's state letter and start time, from /proc; undefined when it is not in the table. */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '', startTime: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

/** A running process's start time (none for a zombie or a dead one). */
function procStartTime(pid: number): string | undefined {
  const st = procStat(pid);
  return st && st.state !== 'Z' && st.state !== 'X' ? st.startTime : undefined;
}

/** The recorded process has left the process table (or its PID is another process's now). */
function reaped(rec: ProcessRecord): boolean {
  return procStat(rec.pid)?.startTime !== rec.startTime;
}

export function isAlive(rec: ProcessRecord): boolean {
  return procStartTime(rec.pid) === rec.startTime;
}

export function readRecord(pidDir: string, name: string): ProcessRecord | undefined {
  const file = join(pidDir, `${name}.json`);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ProcessRecord;
  } catch {
    return undefined;
  }
}

export function listRecords(pidDir: string): ProcessRecord[] {
  if (!existsSync(pidDir)) return [];
  return readdirSync(pidDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readRecord(pidDir, f.slice(0, -'.json'.length)))
    .filter((r): r is ProcessRecord => r !== undefined);
}

/** The running process recorded under `name`, if it is still the one we started. */
export function running(pidDir: string, name: string): ProcessRecord | undefined {
  const rec = readRecord(pidDir, name);
  return rec && isAlive(rec) ? rec : undefined;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  pidDir: string;
  logDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Starts the process unless the recorded one is still running. Returns its record. */
export async function startProcess(o: StartOptions): Promise<ProcessRecord> {
  const existing = running(o.pidDir, o.name);
  if (existing) return existing;
  mkdirSync(o.pidDir, { recursive: true });
  mkdirSync(o.logDir, { recursive: true });
  const log = join(o.logDir, `${o.name}.log`);
  const fd = openSync(log, 'a');
  writeFileSync(fd, `\n=== ${new Date().toISOString()} ${o.command} ${o.args.join(' ')}\n`);
  const child = spawn(o.command, o.args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: o.env ?? process.env,
    cwd: o.cwd,
  });
  closeSync(fd);
  const spawnError = new Promise<Error | undefined>((resolve) => {
    child.once('error', resolve);
    setTimeout(() => resolve(undefined), 50);
  });
  const err = await spawnError;
  if (err || child.pid === undefined)
    throw new Error(`cannot start ${o.name}: ${err?.message ?? 'no pid'}`);
  child.unref();
  let startTime: string | undefined;
  for (let i = 0; i < 20 && !startTime; i++) {
    startTime = procStartTime(child.pid);
    if (!startTime) await sleep(10);
  }
  if (!startTime) throw new Error(`${o.name} exited at once; see ${log}:\n${tail(log)}`);
  const rec: ProcessRecord = {
    name: o.name,
    pid: child.pid,
    startTime,
    command: [o.command, ...o.args],
    log,
  };
  writeFileSync(join(o.pidDir, `${o.name}.json`), JSON.stringify(rec, null, 2) + '\n');
  return rec;
}

/** SIGTERM, then SIGKILL after `graceMs`; forgets the record. */
export async function stopProcess(
  pidDir: string,
  name: string,
  graceMs = 10_000,
): Promise<boolean> {
  const rec = readRecord(pidDir, name);
  let stopped = false;
  if (rec && isAlive(rec)) {
    stopped = true;
    try {
      process.kill(rec.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const deadline = Date.now() + graceMs;
    while (isAlive(rec) && Date.now() < deadline) await sleep(100);
    if (isAlive(rec)) {
      try {
        process.kill(rec.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      while (isAlive(rec)) await sleep(50);
    }
    // Dead is not yet gone: a multi-threaded process's main thread is a zombie while its other
    // threads still hold its files, its listening sockets among them. A controller manager
    // started again at that moment failed: "bind: address already in use".
    const until = Date.now() + 5000;
    while (!reaped(rec) && Date.now() < until) await sleep(50);
  }
  rmSync(join(pidDir, `${name}.json`), { force: true });
  return stopped;
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
