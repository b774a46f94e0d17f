#!/usr/bin/env bash
# Integration tiers, in order, against real components: the local cluster (built by the
# project's own code when the cache lacks it), then the kube layer and the operator on that
# cluster's real API server (kwok nodes run their pods), then the images in real containers.
set -euo pipefail
cd "$(dirname "$0")/../.."
node=node_modules/.bin/node
t0=$(date +%s)
"$node" bin/stackanetes.js cluster up --fake-nodes "${STACKANETES_FAKE_NODES:-100}"
echo "== cluster up took $(( $(date +%s) - t0 )) s"
eval "$("$node" bin/stackanetes.js cluster env)"
export KUBECONFIG
rc=0
"$node" --test --test-concurrency=1 --test-reporter=spec \
  'test/integration/cluster/*.test.ts' 'test/integration/render/*.test.ts' 'test/integration/kube/*.test.ts' 'test/integration/operator/*.test.ts' || rc=$?
echo "== cluster, kube and operator tests took $(( $(date +%s) - t0 )) s (exit $rc)"
if [ "${STACKANETES_SKIP_IMAGES:-}" != 1 ]; then
  t1=$(date +%s)
  "$node" bin/stackanetes.js images build || rc=$?
  "$node" --test --test-concurrency=1 --test-reporter=spec 'test/integration/images/*.test.ts' || rc=$?
  echo "== images build and tests took $(( $(date +%s) - t1 )) s"
fi
[ "$rc" -eq 0 ] || "$node" bin/stackanetes.js cluster status || true
exit "$rc"
