// test/e2e/cloud-namespaces.sh, which the e2e and multi-node tiers use to remove a cloud, against a
// stand-in kubectl that keeps namespaces and OpenStackClouds in files: the cloud's namespace goes,
// then its data plane's, whether the operator deleted that one, left it, or never ran (then the
// clouds' finalizer is removed and both go all the same).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

/**
 * A kubectl for what cloud-namespaces.sh asks: a namespace is a directory of $STATE, marked
 * `terminating` once deleted; a cloud is a file `cloud-<name>` in it, holding the finalizer while
 * it contains "finalizer". A terminating namespace goes at the next `wait` unless a cloud in it
 * holds the finalizer; with $OPERATOR set the operator deletes the data plane and the finalizer as
 * soon as the cloud's namespace is deleted (`leaves` makes it forget the data plane's namespace).
 */
const fakeKubectl = `#!/usr/bin/env bash
echo "kubectl $*" >> "$STATE/log"
ns=''
if [ "$1" = -n ]; then ns=$2; shift 2; fi
case "$1 $2" in
  'get namespace') [ -d "$STATE/$3" ] ;;
  'delete namespace')
    [ -d "$STATE/$3" ] || { echo "not found" >&2; exit 1; }
    [ -e "$STATE/$3/terminating" ] && { echo 'Conflict: the system is ensuring all content is removed' >&2; exit 1; }
    touch "$STATE/$3/terminating"
    if [ -n "\${OPERATOR:-}" ]; then
      for c in "$STATE/$3"/cloud-*; do [ -e "$c" ] && echo > "$c"; done
      [ "$OPERATOR" = leaves ] || { [ -d "$STATE/$3-dataplane" ] && touch "$STATE/$3-dataplane/terminating"; }
    fi
    echo "namespace $3 deleted" ;;
  'wait --for=delete')
    n=\${3#namespace/}
    [ -d "$STATE/$n" ] || exit 0
    [ -e "$STATE/$n/terminating" ] || { echo 'error: timed out waiting for the condition' >&2; exit 1; }
    if grep -qs finalizer "$STATE/$n"/cloud-*; then echo 'error: timed out waiting for the condition' >&2; exit 1; fi
    rm -rf "\${STATE:?}/$n"; echo "namespace/$n condition met" ;;
  'get openstackclouds')
    for c in "$STATE/$ns"/cloud-*; do [ -e "$c" ] && echo "openstackcloud.stackanetes.io/\${c##*/cloud-}"; done; true ;;
  'patch openstackcloud.stackanetes.io/'*)
    echo > "$STATE/$ns/cloud-\${2##*/}" ;;
  *) echo "unexpected: kubectl $*" >&2; exit 2 ;;
esac
`;

function setup(namespaces: Record<string, string[]>): { dir: string; state: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cloud-namespaces-'));
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'kubectl'), fakeKubectl, { mode: 0o755 });
  const state = join(dir, 'state');
  for (const [ns, clouds] of Object.entries(namespaces)) {
    mkdirSync(join(state, ns), { recursive: true });
    for (const c of clouds) writeFileSync(join(state, ns, `cloud-${c}`), 'finalizer\n');
  }
  writeFileSync(join(state, 'log'), '');
  return { dir, state };
}

function deleteCloud(dir: string, state: string, env: Record<string, string> = {}) {
  const r = spawnSync(
    'bash',
    ['-c', 'set -euo pipefail; . test/e2e/cloud-namespaces.sh; delete_cloud openstack'],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
        STATE: state,
        node: process.execPath,
        STACKANETES_DELETE_TIMEOUT: '1s',
        ...env,
      },
    },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the operator deletes the data plane with the cloud: both namespaces are gone', (t) => {
  const { dir, state } = setup({ openstack: ['minimal'], 'openstack-dataplane': [] });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = deleteCloud(dir, state, { OPERATOR: 'yes' });
  assert.equal(r.code, 0, r.out);
  assert.ok(!existsSync(join(state, 'openstack')), r.out);
  assert.ok(!existsSync(join(state, 'openstack-dataplane')), r.out);
  assert.match(r.out, /namespaces openstack and openstack-dataplane deleted/);
});

test('a data plane the operator left behind is deleted once the cloud is gone', (t) => {
  const { dir, state } = setup({ openstack: ['minimal'], 'openstack-dataplane': [] });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = deleteCloud(dir, state, { OPERATOR: 'leaves' });
  assert.equal(r.code, 0, r.out);
  assert.ok(!existsSync(join(state, 'openstack-dataplane')), r.out);
});

test("without an operator the clouds' finalizers are removed after the wait, and both namespaces go", (t) => {
  const { dir, state } = setup({ openstack: ['minimal', 'other'], 'openstack-dataplane': [] });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = deleteCloud(dir, state);
  assert.equal(r.code, 0, r.out);
  assert.match(
    r.out,
    /no operator deleted the data plane of .*minimal, .*other; removing their finalizers/,
  );
  assert.ok(!existsSync(join(state, 'openstack')), r.out);
  assert.ok(!existsSync(join(state, 'openstack-dataplane')), r.out);
});

test('only a data plane left: it is deleted; nothing left: nothing is asked to be deleted', (t) => {
  const { dir, state } = setup({ 'openstack-dataplane': [] });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(deleteCloud(dir, state).code, 0);
  assert.ok(!existsSync(join(state, 'openstack-dataplane')));
  writeFileSync(join(state, 'log'), '');
  const again = deleteCloud(dir, state);
  assert.equal(again.code, 0, again.out);
  assert.doesNotMatch(
    spawnSync('cat', [join(state, 'log')], { encoding: 'utf8' }).stdout,
    /delete/,
  );
});
