// Running external programs: capture output, or append it to a log file; fail with the tail of stderr.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Append stdout and stderr to this file instead of capturing them. */
  logFile?: string;
  /** Don't throw on a non-zero exit; the caller reads `code`. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  readonly result: RunResult;
  constructor(command: string, result: RunResult, logFile?: string) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n');
    super(
      `${command} exited with ${result.code}` +
        (tail ? `:\n${tail}` : '') +
        (logFile ? `\n(full log: ${logFile})` : ''),
    );
    this.name = 'CommandError';
    this.result = result;
  }
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const fd = opts.logFile ? openSync(opts.logFile, 'a') : undefined;
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', fd ?? 'pipe', fd ?? 'pipe'],
      timeout: opts.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A child that exits before reading all its input (kubectl refusing a manifest) must fail
    // with its own message, not crash this process with EPIPE.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.on('error', (err) => {
      if (fd !== undefined) closeSync(fd);
      if (opts.allowFailure)
        resolve({ code: 127, stdout, stderr: `cannot run ${cmd}: ${err.message}` });
      else reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (fd !== undefined) closeSync(fd);
      const result = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (result.code !== 0 && !opts.allowFailure) {
        reject(new CommandError([cmd, ...args].join(' ').slice(0, 300), result, opts.logFile));
      } else resolve(result);
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `check` until it returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${why}`,
      );
    }
    await sleep(intervalMs);
  }
}
