#!/usr/bin/env bash
# CI entry for the local cluster: bring it up (building whatever the cache lacks), then run its
# integration tests against it. Run from anywhere, as root.
set -euo pipefail
cd "$(dirname "$0")/../../.."
node=node_modules/.bin/node
start=$(date +%s)
"$node" bin/stackanetes.js cluster up --fake-nodes "${STACKANETES_FAKE_NODES:-100}"
echo "cluster up took $(( $(date +%s) - start )) s"
rc=0
"$node" --test --test-concurrency=1 --test-reporter=spec 'test/integration/cluster/*.test.ts' || rc=$?
if [ "$rc" -ne 0 ]; then
  "$node" bin/stackanetes.js cluster status || true
fi
exit "$rc"
