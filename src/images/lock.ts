// One build at a time per cache: builds share apt's lists and download directories.
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `fn` holding `file` (created exclusively, holding our pid); waits for a live holder. */
export async function withLock<T>(
  file: string,
  onWait: (pid: number) => void,
  fn: () => Promise<T>,
): Promise<T> {
  await mkdir(dirname(file), { recursive: true });
  let told = false;
  for (;;) {
    try {
      const h = await open(file, 'wx');
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (!pid || !alive(pid)) {
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (!told) onWait(pid);
      told = true;
      await sleep(2000);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(file).catch(() => undefined);
  }
}
