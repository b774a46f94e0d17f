// `stackanetes apply -f SPEC`: create or update the OpenStackCloud and follow the operator's
// progress component by component until the cloud is Ready or something fails.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { Listr } from 'listr2';
import { parse } from 'yaml';
import { apiVersion, kind, type OpenStackCloud, type UpgradeStatus } from '../api/v1alpha1/spec.ts';
import { enabledServices } from '../plan/components.ts';
import { releaseChange } from './release-change.ts';
import { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { cloudNamespaceProblem } from '../render/namespaces.ts';
import { ApiError, isNotFound } from '../kube/errors.ts';
import { ensureCrd, ensureNamespace } from '../controller/install.ts';
import { operatorState } from '../controller/liveness.ts';
import { failure, readStatus, type CloudStatus } from './cloud-view.ts';
import { CliError } from './errors.ts';
import { readSpec } from './spec-file.ts';
import { listRenderer, secondsSince } from '../util/progress.ts';

export function register(program: Command): void {
  program
    .command('apply')
    .description('Create or update an OpenStackCloud and follow it until it is Ready')
    .requiredOption('-f, --file <spec>', 'spec file (YAML), or - for standard input')
    .option('-n, --namespace <ns>', 'namespace (default: the spec’s, else openstack)')
    .option('--no-wait', 'return once the spec is accepted')
    .option('--timeout <minutes>', 'give up after this many minutes', '30')
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes apply -f examples/minimal.yaml
  $ npx stackanetes apply -f cloud.yaml --no-wait && npx stackanetes status

Needs the operator running in the cluster (or \`npx stackanetes operator\` beside it).
Exits 0 when Ready, 1 when a component fails (its reason and last log line are shown).`,
    )
    .action(async (opts: { file: string; namespace?: string; wait: boolean; timeout: string }) => {
      const { text, cloud } = readSpec(opts.file);
      // Apply what the user wrote; the API server fills defaults from the CRD schema.
      const doc = parse(text) as KubeObject;
      const namespace = opts.namespace ?? cloud.metadata.namespace ?? 'openstack';
      // The data plane runs in a namespace named after the cloud's (-n is not validated with the spec).
      const problem = cloudNamespaceProblem(namespace);
      if (problem) throw new CliError(`namespace ${namespace}: ${problem}`);
      doc.metadata = { ...doc.metadata, namespace };
      const client = await KubeClient.create();
      try {
        await ensureCrd(client);
        await ensureNamespace(client, namespace);
        await checkReleaseChange(client, namespace, cloud);
        let applied: KubeObject;
        try {
          applied = await client.apply(doc);
        } catch (err) {
          if (err instanceof ApiError && err.invalid) {
            throw new CliError(`the API server rejected the spec: ${err.message}`);
          }
          throw err;
        }
        const name = applied.metadata.name;
        process.stderr.write(
          `openstackcloud ${namespace}/${name} applied (generation ${applied.metadata.generation})\n`,
        );
        if (!opts.wait) return;
        await follow(
          client,
          namespace,
          name,
          applied.metadata.generation ?? 0,
          Number(opts.timeout) * 60_000,
        );
      } finally {
        client.close();
      }
    });
}

/** Stops a release change that is refused (nothing applied); shows the plan of an allowed one. */
async function checkReleaseChange(
  client: KubeClient,
  namespace: string,
  cloud: OpenStackCloud,
): Promise<void> {
  let live: KubeObject | undefined;
  try {
    live = await client.get<KubeObject>(apiVersion, kind, cloud.metadata.name, namespace);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const status = (live.status ?? {}) as { release?: string; upgrade?: UpgradeStatus };
  const change = releaseChange(
    {
      spec: (live.spec as { release: string }).release,
      ...(status.release ? { running: status.release } : {}),
      ...(status.upgrade ? { upgrade: status.upgrade } : {}),
    },
    cloud.spec.release,
    enabledServices(cloud),
  );
  if (change.refuse) throw new CliError(`${change.refuse}; nothing was applied`);
  if (change.plan) process.stderr.write(`${change.plan}\n`);
}

/**
 * The cloud's status, read every 2 s while anything waits on it. `until(check)` resolves at the
 * first reading `check` accepts. Every waiter is rejected at once when a component fails or the
 * time is up: the user sees the reason, not a list still spinning.
 */
class StatusFeed {
  readonly #waiters = new Set<{
    check: (s: CloudStatus, cloud: KubeObject) => boolean;
    resolve: () => void;
    reject: (e: Error) => void;
  }>();
  #error: Error | undefined;
  #latest: [CloudStatus, KubeObject] | undefined;
  #stopped = false;

  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #name: string;
  readonly #deadline: number;
  /** Told of each failed read the API server may recover from. */
  readonly #onRetry: (why: string) => void;

  constructor(
    client: KubeClient,
    namespace: string,
    name: string,
    deadline: number,
    onRetry: (why: string) => void,
  ) {
    this.#client = client;
    this.#namespace = namespace;
    this.#name = name;
    this.#deadline = deadline;
    this.#onRetry = onRetry;
  }

  async run(): Promise<void> {
    while (!this.#stopped) {
      let cloud: KubeObject | undefined;
      try {
        cloud = await this.#client.get<KubeObject>(apiVersion, kind, this.#name, this.#namespace);
      } catch (err) {
        // The API server restarting or a dropped connection is no reason to stop following.
        if (!(err instanceof ApiError && err.retriable)) this.#fail(err as Error);
        else this.#onRetry(err.reason);
      }
      if (cloud) this.#offer(readStatus(cloud), cloud);
      if (!this.#error && Date.now() > this.#deadline)
        this.#fail(
          new CliError(
            `openstackcloud ${this.#namespace}/${this.#name} was not Ready in time; see \`stackanetes status ${this.#name}\``,
          ),
        );
      if (this.#error) return;
      await sleep(2000);
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Waits for a reading that `check` accepts (it may also note progress as it looks). */
  until(check: (s: CloudStatus, cloud: KubeObject) => boolean): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    // A waiter that comes after a reading sees it at once: tasks started by the reading that
    // ended the one before them need not wait 2 s for the next.
    if (this.#latest && check(...this.#latest)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.add({ check, resolve, reject });
    });
  }

  #offer(s: CloudStatus, cloud: KubeObject): void {
    const f = s.observedGeneration >= s.generation ? failure(s) : undefined;
    if (f) return this.#fail(new CliError(`${f.name}: ${f.reason}: ${f.message}`));
    this.#latest = [s, cloud];
    for (const w of [...this.#waiters]) {
      if (!w.check(s, cloud)) continue;
      this.#waiters.delete(w);
      w.resolve();
    }
  }

  #fail(e: Error): void {
    this.#error = e;
    for (const w of this.#waiters) w.reject(e);
    this.#waiters.clear();
  }
}

/**
 * Follows the cloud until Ready as one list: the operator picking up this generation, then every
 * component at once, each done when Ready (its condition's message shown meanwhile), then the
 * cloud. Redrawn in a terminal; elsewhere a line per component as it becomes Ready.
 */
async function follow(
  client: KubeClient,
  namespace: string,
  name: string,
  generation: number,
  timeoutMs: number,
): Promise<void> {
  const start = Date.now();
  let outage = false;
  const feed = new StatusFeed(client, namespace, name, start + timeoutMs, (why) => {
    if (!outage) process.stderr.write(`(API server: ${why}; retrying)\n`);
    outage = true;
  });
  const polling = feed.run();
  const took = () => `${secondsSince(start)} s`;
  let components: CloudStatus['components'] = [];
  const list = new Listr(
    [
      {
        title: `the operator observes generation ${generation}`,
        task: async (_ctx, task) => {
          await feed.until((s, cloud) => {
            outage = false;
            if (s.observedGeneration >= generation) {
              components = s.components;
              return true;
            }
            // Say so when nothing will ever pick the spec up (no operator running, or a dead one).
            const operator = operatorState({
              status: cloud.status as Parameters<typeof operatorState>[0]['status'],
              createdAt: cloud.metadata.creationTimestamp,
              lease: undefined,
              serverNow: client.serverNow(),
            });
            if (operator.reconciling === false)
              task.output = `${operator.summary}; is \`stackanetes operator\` (or its Deployment) running?`;
            return false;
          });
          task.title = `the operator observed generation ${generation} (${took()})`;
        },
      },
      {
        title: 'components',
        task: (_ctx, task) =>
          task.newListr(
            components.map((c) => ({
              title: c.name,
              task: async (_c, sub) => {
                let shown = '';
                await feed.until((s) => {
                  const now = s.components.find((x) => x.name === c.name);
                  if (now?.cond.status === 'True') {
                    const pods =
                      now.replicas !== undefined
                        ? `, ${now.readyReplicas ?? 0}/${now.replicas} pods`
                        : '';
                    sub.title = `${c.name} Ready (${took()}${pods})`;
                    return true;
                  }
                  const msg = now ? `${now.cond.reason}: ${now.cond.message}` : 'not in the status';
                  if (msg !== shown) sub.output = `${c.name}: ${(shown = msg)}`;
                  return false;
                });
              },
            })),
            { concurrent: true, exitOnError: true },
          ),
      },
      {
        title: 'the cloud',
        task: async (_ctx, task) => {
          await feed.until((s) => s.ready?.status === 'True');
          task.title = `the cloud is Ready (${took()})`;
        },
      },
    ],
    {
      concurrent: false,
      exitOnError: true,
      ...listRenderer({ redraw: process.stderr.isTTY === true, start }),
    },
  );
  try {
    await list.run();
  } finally {
    feed.stop();
    await polling;
  }
  process.stdout.write(`openstackcloud ${namespace}/${name} is Ready\n`);
}
