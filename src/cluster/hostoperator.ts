// The operator as a supervised process beside the cluster's own (its log with theirs, stopped by
// `cluster down`), run from this checkout: what `stackanetes up` starts until the operator's
// image is built, and where `stackanetes dashboard` looks when no operator pod serves one.
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { layout } from './layout.ts';
import { running, startProcess, stopProcess, tail } from './processes.ts';

const bin = fileURLToPath(new URL('../../bin/stackanetes.js', import.meta.url));
const operatorMetricsPort = 9090;

/** The host operator's name among the cluster's processes. */
export const operatorProcess = 'stackanetes-operator';

/** Where the host operator serves the dashboard, and how it is told to. */
export const hostOperatorDashboard = 'http://127.0.0.1:8081/';
export const hostOperatorDashboardArgs = [
  '--dashboard-port',
  '8081',
  '--dashboard-host',
  '127.0.0.1',
];

/** (Re)starts the operator from this checkout, so a changed operator is the one that runs. */
export async function startHostOperator(kubeconfig: string): Promise<string> {
  const l = layout();
  const restarted = running(l.pids, operatorProcess) !== undefined;
  await stopProcess(l.pids, operatorProcess);
  const rec = await startProcess({
    name: operatorProcess,
    command: process.execPath,
    args: [
      bin,
      'operator',
      '--metrics-host',
      '127.0.0.1',
      '--metrics-port',
      String(operatorMetricsPort),
      ...hostOperatorDashboardArgs,
    ],
    pidDir: l.pids,
    logDir: l.logs,
    env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  // It answers /healthz once it is up; give it a few seconds before calling it broken.
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${operatorMetricsPort}/healthz`);
      if (r.ok) return `${restarted ? 'restarted' : 'started'}: pid ${rec.pid}, log ${rec.log}`;
    } catch {
      /* not listening yet */
    }
    if (!running(l.pids, operatorProcess))
      throw new Error(`the operator exited; see ${rec.log}:\n${tail(rec.log)}`);
    await sleep(100);
  }
  throw new Error(`the operator did not answer /healthz within 10 s; see ${rec.log}`);
}
