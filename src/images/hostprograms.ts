// The host programs an image build runs, installed with apt-get when they are missing.
import { capture, run } from '../util/exec.ts';

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
