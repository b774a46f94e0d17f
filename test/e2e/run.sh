#!/usr/bin/env bash
# End-to-end tier: the main job (`stackanetes up`: local cluster, images, operator, and
# examples/minimal.yaml deployed until Ready), then the suite against that real cloud with real
# clients (openstack CLI, HTTP, headless Chromium for Horizon and the operator's dashboard).
set -euo pipefail
cd "$(dirname "$0")/../.."
node=node_modules/.bin/node
t0=$(date +%s)
started=${STACKANETES_CI_STARTED:-$t0}
# The cloud needs all 20 images: 1 s when cached, about 30 min from nothing. A cold CI machine
# has spent ~50 min building Kubernetes by now; the tier is skipped then, and says so.
built=$("$node" bin/stackanetes.js images list 2>/dev/null | grep -c '^localhost/' || true)
if [ "$built" -lt 20 ] && [ $(( $(date +%s) - started )) -gt 2400 ]; then
  echo "== SKIPPED end-to-end tier: only $built/20 images cached and $(( ($(date +%s) - started) / 60 )) min already spent;"
  echo "   run: sudo npx stackanetes up && npm run test:e2e"
  exit 0
fi
bash test/e2e/chromium.sh
"$node" bin/stackanetes.js up
echo "== stackanetes up took $(( $(date +%s) - t0 )) s"
eval "$("$node" bin/stackanetes.js cluster env)"
export KUBECONFIG
rc=0
"$node" --test --test-concurrency=1 --test-reporter=spec \
  test/e2e/cloud.test.ts test/e2e/horizon.test.ts test/e2e/dashboard.test.ts \
  test/e2e/operator.test.ts test/e2e/load.test.ts test/e2e/limits.test.ts test/e2e/heal.test.ts || rc=$?
if [ "$rc" -ne 0 ]; then
  "$node" bin/stackanetes.js status -n openstack minimal || true
  kubectl -n openstack get pods -o wide || true
fi
# The next run of the integration tiers should not share 2 cores with a whole cloud: remove it
# (its volumes too) unless asked to keep it. `npx stackanetes up` brings it back.
if [ "${STACKANETES_KEEP_CLOUD:-}" != 1 ]; then
  t1=$(date +%s)
  kubectl delete namespace openstack --wait=true --timeout=10m || true
  echo "== cloud removed in $(( $(date +%s) - t1 )) s (STACKANETES_KEEP_CLOUD=1 keeps it)"
fi
echo "== end-to-end tier took $(( $(date +%s) - t0 )) s (exit $rc)"
exit "$rc"
