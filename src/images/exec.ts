// Running host programs for image builds: output goes to a log file, and the tail of it comes
// back in the error when a program fails.
import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export class CommandError extends Error {
  readonly exitCode: number | null;
  readonly output: string;
  constructor(message: string, exitCode: number | null, output: string) {
    super(message);
    this.name = 'CommandError';
    this.exitCode = exitCode;
    this.output = output;
  }
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
  /** Append stdout and stderr here. */
  readonly log?: WriteStream;
  /** Called with each line of output (for progress). */
  readonly onLine?: (line: string) => void;
}

/** Runs a program; resolves with its combined output (last 2 MB), rejects on non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let partial = '';
    const take = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      opts.log?.write(chunk);
      output += text;
      if (output.length > 2_000_000) output = output.slice(-1_000_000);
      if (opts.onLine) {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) opts.onLine(line);
      }
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    if (opts.input !== undefined && child.stdin) child.stdin.end(opts.input);
    child.on('error', (err) => reject(new CommandError(`${cmd}: ${err.message}`, null, output)));
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else {
        const tail = output.trimEnd().split('\n').slice(-15).join('\n');
        reject(new CommandError(`${cmd} exited with ${code}\n${tail}`, code, output));
      }
    });
  });
}

/** Like `run` but returns stdout only, for small queries. */
export function capture(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', (e) => reject(new CommandError(`${cmd}: ${e.message}`, null, err)));
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new CommandError(
              `${cmd} ${args.join(' ')} exited with ${code}: ${err.trim()}`,
              code,
              err,
            ),
          ),
    );
  });
}

export function openLog(path: string): WriteStream {
  return createWriteStream(path, { flags: 'a' });
}

/** Standard output of a program whatever its exit status (for tools that exit 1 on "not found"). */
export function stdoutOf(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.on('error', (e) => reject(new CommandError(`${cmd}: ${e.message}`, null, '')));
    child.on('close', () => resolve(out));
  });
}

/**
 * Host programs a build needs (program → Debian package; a path → the package that ships it),
 * installed with apt-get when missing; `onInstall` hears which packages before they are.
 */
export async function ensureHostPrograms(
  needed: Readonly<Record<string, string>>,
  onInstall: (packages: string[]) => void,
): Promise<void> {
  const missing = new Set<string>();
  for (const [bin, pkg] of Object.entries(needed)) {
    const test = bin.startsWith('/') ? `test -e '${bin}'` : `command -v ${bin}`;
    try {
      await capture('sh', ['-c', test]);
    } catch {
      missing.add(pkg);
    }
  }
  if (!missing.size) return;
  onInstall([...missing]);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '-q', '--no-install-recommends', ...missing];
  await run('apt-get', install, { env }).catch(async () => {
    await run('apt-get', ['update', '-q'], { env });
    await run('apt-get', install, { env });
  });
}
