// The note a component's condition gets when a container of a workload keeps restarting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crashingContainer, crashNote, dyingLine } from '../../../src/controller/crashloop.ts';
import type { KubeObject } from '../../../src/render/kube.ts';

function pod(name: string, statuses: object[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    status: { containerStatuses: statuses },
  };
}

// The end of nova-compute's log when it met guests that its database did not know (CI, 2026-12-01).
const novaLog = `2026-12-01 17:55:38.080 1076 INFO nova.service [-] Starting compute node (version 31.0.0)
libvirt:  error : internal error: could not initialize domain event timer
2026-12-01 17:55:38.597 1076 ERROR oslo_service.backend.eventlet.service [None req-47 - - - - - -] Error starting thread.: nova.exception.InvalidConfiguration: My hypervisor has existing instances, but I appear to be a new service in this database. Possible database configuration error, refusing to start!
2026-12-01 17:55:38.597 1076 ERROR oslo_service.backend.eventlet.service Traceback (most recent call last):
2026-12-01 17:55:38.597 1076 ERROR oslo_service.backend.eventlet.service   File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 1596, in _sanity_check_new_host
2026-12-01 17:55:38.597 1076 ERROR oslo_service.backend.eventlet.service     raise exception.InvalidConfiguration(
2026-12-01 17:55:38.597 1076 ERROR oslo_service.backend.eventlet.service nova.exception.InvalidConfiguration: My hypervisor has existing instances, but I appear to be a new service in this database. Possible database configuration error, refusing to start!
2026-12-01 17:55:38.597 1076 ERROR oslo_service.backend.eventlet.service 
`;

test('the line a process died with: the last exception, without oslo.log prefix, at most 200 characters', () => {
  const line = dyingLine(novaLog);
  assert.match(
    line,
    /^nova\.exception\.InvalidConfiguration: My hypervisor has existing instances/,
  );
  assert.ok(line.length <= 200, `${line.length} characters`);
  assert.equal(
    dyingLine('starting\nlistening on 5672\n'),
    'listening on 5672',
    'no exception: the last line',
  );
  assert.equal(dyingLine(''), '');
});

test('a crash-looping container is named with its restarts and last exit; steady ones are not', () => {
  const steady = pod('keystone-api-1', [{ name: 'api', restartCount: 1, state: { running: {} } }]);
  assert.equal(crashingContainer([steady]), undefined, 'one restart is not a crash loop');
  const looping = pod('nova-compute-j5wmx', [
    {
      name: 'compute',
      restartCount: 23,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: 0, reason: 'Completed' } },
    },
    { name: 'libvirt', restartCount: 1, state: { running: {} } },
  ]);
  const c = crashingContainer([steady, looping]);
  assert.deepEqual(c, {
    pod: 'nova-compute-j5wmx',
    container: 'compute',
    restarts: 23,
    state: 'CrashLoopBackOff',
    exitCode: 0,
    reason: 'Completed',
  });
  assert.match(
    crashNote(c, dyingLine(novaLog)),
    /^pod nova-compute-j5wmx: container compute restarted 23 times \(CrashLoopBackOff\), last exit 0 \(Completed\): nova\.exception\.InvalidConfiguration: My hypervisor has existing instances/,
  );
  // Between two back-offs (running again), many restarts still count.
  const between = pod('x', [
    {
      name: 'api',
      restartCount: 5,
      state: { running: {} },
      lastState: { terminated: { exitCode: 1, reason: 'Error' } },
    },
  ]);
  assert.equal(crashingContainer([between])?.state, 'Running');
  // An init container that loops counts too.
  const init: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'y' },
    status: {
      initContainerStatuses: [
        { name: 'virt-type', restartCount: 0, state: { waiting: { reason: 'CrashLoopBackOff' } } },
      ],
    },
  };
  assert.equal(crashingContainer([init])?.container, 'virt-type');
});
