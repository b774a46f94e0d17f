// Debian packages on this machine: which ones dpkg lacks, and installing them with apt-get (the
// package lists fetched first on a fresh machine that has none). The local cluster and the image
// builds install what they need on the host through here.
import { capture, run } from './exec.ts';

/** The packages of `packages` that dpkg does not list as installed. */
export async function missingPackages(packages: readonly string[]): Promise<string[]> {
  const { stdout } = await run(
    'dpkg-query',
    ['-W', '-f', '${Package} ${db:Status-Status}\n', ...packages],
    { allowFailure: true },
  );
  const installed = new Set(
    stdout
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]),
  );
  return packages.filter((p) => !installed.has(p));
}

/**
 * `apt-get install` without recommends, waiting up to 5 minutes for another apt to finish;
 * when it fails (a fresh machine has no package lists yet), `apt-get update` and once more.
 * With `logFile`, apt's output goes there and the error points at it.
 */
export async function aptInstall(
  packages: readonly string[],
  opts: { logFile?: string } = {},
): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const aptGet = (args: string[]) =>
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', '-q', ...args], {
      env,
      ...(opts.logFile ? { logFile: opts.logFile } : {}),
    });
  const install = ['install', '-y', '--no-install-recommends', ...packages];
  await aptGet(install).catch(async () => {
    await aptGet(['update']);
    await aptGet(install);
  });
}

/**
 * Host programs a job needs (program → Debian package; a path → the package that ships it),
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
  await aptInstall([...missing]);
}
