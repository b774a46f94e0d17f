#!/usr/bin/env bash
# The image tier: the 22 images (built when missing: 0.3 s when cached, about 30 min from nothing)
# in real containers on the local cluster's containerd, outside Kubernetes. It shares nothing with
# a deployed cloud, so CI runs it beside the end-to-end tests (test/e2e/run.sh, when
# STACKANETES_IMAGES_BESIDE_E2E=1); `npm run test:integration` runs it after the integration tier.
# Its counts, or why it did not run, go to $STACKANETES_TEST_RESULTS (test/ci/tiers.ts).
set -uo pipefail
cd "$(dirname "$0")/../.."
node=node_modules/.bin/node
tiers() { "$node" test/ci/tiers.ts "$@"; }
t0=$(date +%s)
rc=0
# The image tier needs the 22 images (21 OpenStack images and the operator's): 0.3 s when
# cached, about 30 min from nothing. On a cold machine whose cluster build already took most of
# CI's 90 minutes, it is skipped and says so.
tiers begin images
started=${STACKANETES_CI_STARTED:-$t0}
built=$("$node" bin/stackanetes.js images list 2>/dev/null | grep -c '^localhost:5001/stackanetes/' || true)
spent=$(( $(date +%s) - started ))
if [ "${STACKANETES_SKIP_IMAGES:-}" = 1 ]; then
  tiers skip images "STACKANETES_SKIP_IMAGES=1 was set"
elif [ "$built" -lt 22 ] && [ "$spent" -gt 2400 ]; then
  tiers skip images "only $built/22 images cached and $(( spent / 60 )) min already spent; a cold image build takes about 30 min. Run: npx stackanetes images build && npm run test:integration:images"
else
  t1=$(date +%s)
  build=0
  "$node" bin/stackanetes.js images build || build=$?
  if [ "$build" -ne 0 ]; then
    tiers skip images "images build failed (exit $build)"
    rc=$build
  else
    tiers run images || rc=$?
  fi
  echo "== images build and tests took $(( $(date +%s) - t1 )) s"
fi
exit "$rc"
