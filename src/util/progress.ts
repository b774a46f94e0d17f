// Progress of long commands, in one style (listr2's), on standard error (standard output keeps
// what a command returns). Work made of named steps runs as a list: redrawn in place in a
// terminal; elsewhere (CI logs, a file) a line when a step starts and one when it ends. Work that
// reports as it goes (image builds) writes lines through the same logger. Every line written
// outside a terminal starts with the seconds since the command began, so a log reads in order
// with its times: `✔ [  42s] etcd v3.6.1 — pid 4711 (0.8 s)`.
import { Listr, ListrLogger, ProcessOutput, figures } from 'listr2';

export interface Step {
  title: string;
  /** Returns a short note shown after the title (e.g. "cached"). */
  run: () => Promise<string | void>;
}

/** Seconds since `start` (a `Date.now()`), with one decimal: `12.3`. */
export function secondsSince(start: number): string {
  return ((Date.now() - start) / 1000).toFixed(1);
}

/** The field before each line outside a terminal: whole seconds since `start`, `[  42s]`. */
function sinceStart(start: number) {
  return {
    condition: true,
    field: () => `${String(Math.round((Date.now() - start) / 1000)).padStart(4)}s`,
    format: () => (s?: string) => s ?? '',
  };
}

function logger(icon?: Record<string, string>): ListrLogger<string> {
  return new ListrLogger<string>({
    processOutput: new ProcessOutput(process.stderr, process.stderr),
    useIcons: true,
    ...(icon ? { icon } : {}),
  });
}

/** How long each step took, in the order they ran. */
export type StepTimes = { title: string; seconds: string }[];

/**
 * Runs the steps in order and stops at the first that fails (its error is thrown as it came).
 * A finished step's title gets its note and its time: `etcd v3.6.1 — pid 4711 (0.8 s)`.
 * `redraw: false` keeps to lines even in a terminal: for steps whose work writes to the terminal
 * itself (a child command's output passed through). `start` is when the command began.
 */
export async function runSteps(
  steps: readonly Step[],
  opts: { redraw?: boolean; start?: number } = {},
): Promise<StepTimes> {
  const times: StepTimes = [];
  const redraw = (opts.redraw ?? true) && process.stderr.isTTY;
  const list = new Listr(
    steps.map((s) => ({
      title: s.title,
      task: async (_ctx: unknown, task: { title: string }) => {
        const t = Date.now();
        const note = await s.run();
        const seconds = secondsSince(t);
        times.push({ title: s.title, seconds });
        task.title = `${s.title}${note ? ` — ${note}` : ''} (${seconds} s)`;
      },
    })),
    { concurrent: false, exitOnError: true, ...listRenderer({ redraw, start: opts.start }) },
  );
  await list.run();
  return times;
}

/**
 * How a listr2 list is drawn: redrawn in place when `redraw` (a terminal); else as lines, each
 * stamped with the seconds since `start`. For lists built elsewhere (`apply` waits on its
 * components at once), so that every long command looks the same.
 */
export function listRenderer(opts: { redraw: boolean; start?: number }) {
  return opts.redraw
    ? ({ renderer: 'default', rendererOptions: { logger: logger() } } as const)
    : ({
        renderer: 'simple',
        rendererOptions: { logger: logger(), timestamp: sinceStart(opts.start ?? Date.now()) },
      } as const);
}

/** What a progress line says of its subject; each kind has its listr2 icon. */
export type LineKind = 'start' | 'note' | 'done' | 'skip' | 'warn';

const lineIcons: Record<LineKind, string> = {
  start: figures.pointer,
  note: figures.pointerSmall,
  done: figures.tick,
  skip: figures.arrowDown,
  warn: figures.warning,
};

/**
 * A writer of progress lines for work that reports as it goes, stamped with the seconds since
 * this was called: `› [  42s] keystone  apt-get install 12 packages on openstack-base`. Lines,
 * not a redrawn list, in a terminal too: every line says something worth keeping (a layer built,
 * its size and time).
 */
export function progressLines(start = Date.now()): (kind: LineKind, text: string) => void {
  const log = logger(lineIcons);
  const since = sinceStart(start);
  return (kind, text) => log.log(kind, text, { prefix: [since] });
}
