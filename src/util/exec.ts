// Running external programs — for the local cluster, the image builds and the CLI alike: capture
// their output, send it to a log, or pass it through to the terminal; fail with the command and
// the tail of what it printed (stderr first). What goes in through `input` is never printed:
// manifests with Secrets in them go that way.
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, openSync, type WriteStream } from 'node:fs';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Append stdout and stderr to this file instead of capturing them (the program writes it). */
  logFile?: string;
  /**
   * Copy stdout and stderr to this stream as they come. The result then keeps only their last
   * megabytes, for the error: the whole is in the log.
   */
  log?: WriteStream;
  /** Called with each line of output, stdout and stderr alike (for progress). */
  onLine?: (line: string) => void;
  /** The program writes to this process's stdout and stderr (a command run from a command). */
  passThrough?: boolean;
  /** Don't throw on a non-zero exit; the caller reads `code` (127: the program did not start). */
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  /** The signal that ended the program, if one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came (the last megabytes): tools that mix the two. */
  output: string;
}

export class CommandError extends Error {
  readonly result: RunResult;
  constructor(message: string, result: RunResult) {
    super(message);
    this.name = 'CommandError';
    this.result = result;
  }

  /** What the program printed, both streams interleaved. */
  get output(): string {
    return this.result.output;
  }
}

/** The error for a program that ended badly: the command, then the tail of stderr (or stdout). */
function exitError(command: string, result: RunResult, logFile?: string): CommandError {
  const tail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n');
  return new CommandError(
    `${command} exited with ${result.code}` +
      (tail ? `:\n${tail}` : '') +
      (logFile ? `\n(full log: ${logFile})` : ''),
    result,
  );
}

const commandLine = (cmd: string, args: readonly string[]): string =>
  [cmd, ...args].join(' ').slice(0, 300);

// Past this much, text kept only for an error message (or beside a log) drops its older half.
const keepLimit = 2_000_000;
const keepTail = (s: string): string => (s.length > keepLimit ? s.slice(-keepLimit / 2) : s);

export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const fd = opts.logFile ? openSync(opts.logFile, 'a') : undefined;
    const out = opts.passThrough ? 'inherit' : (fd ?? 'pipe');
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', out, out],
      timeout: opts.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    let output = '';
    let partial = '';
    const take = (chunk: Buffer, toStdout: boolean): void => {
      const text = chunk.toString('utf8');
      opts.log?.write(chunk);
      if (toStdout) stdout += text;
      else stderr += text;
      output = keepTail(output + text);
      if (opts.log) {
        stdout = keepTail(stdout);
        stderr = keepTail(stderr);
      }
      if (opts.onLine) {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) opts.onLine(line);
      }
    };
    child.stdout?.on('data', (c: Buffer) => take(c, true));
    child.stderr?.on('data', (c: Buffer) => take(c, false));
    // A child that exits before reading all its input (kubectl refusing a manifest) must fail
    // with its own message, not crash this process with EPIPE.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    // A program that cannot start reports 'error' and then 'close' too: the first one counts.
    let settled = false;
    const settle = (result: RunResult, error?: CommandError): void => {
      if (settled) return;
      settled = true;
      if (fd !== undefined) closeSync(fd);
      if (error && !opts.allowFailure) reject(error);
      else resolve(result);
    };
    child.on('error', (err) => {
      const why = `cannot run ${cmd}: ${err.message}`;
      const result = { code: 127, signal: null, stdout, stderr: why, output };
      settle(result, new CommandError(why, result));
    });
    child.on('close', (code, signal) => {
      const result = { code: code ?? (signal ? 128 : 1), signal, stdout, stderr, output };
      settle(
        result,
        result.code !== 0 ? exitError(commandLine(cmd, args), result, opts.logFile) : undefined,
      );
    });
  });
}

/** A program's standard output; it must succeed. */
export async function capture(
  cmd: string,
  args: readonly string[],
  opts: Pick<RunOptions, 'cwd' | 'env'> = {},
): Promise<string> {
  return (await run(cmd, args, opts)).stdout;
}

/** Standard output of a program whatever its exit status (for tools that exit 1 on "not found"). */
export async function stdoutOf(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args, { allowFailure: true });
  // A program that is not there is no answer.
  if (r.code === 127) throw new CommandError(r.stderr, r);
  return r.stdout;
}

/** A log file to pass as `log`, appended to. */
export function openLog(path: string): WriteStream {
  return createWriteStream(path, { flags: 'a' });
}
