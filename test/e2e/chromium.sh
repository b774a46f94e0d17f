#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the browser e2e checks (test/e2e/horizon.test.ts,
# driven by playwright-core with executablePath /usr/bin/chromium). Idempotent: installs only when
# /usr/bin/chromium is missing, quietly, and prints one line saying what it did.
set -euo pipefail

chromium=/usr/bin/chromium

if [[ -x $chromium ]]; then
  echo "chromium: already installed ($("$chromium" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "chromium: $chromium is missing and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# A stale package index makes the install fail with 404s: refresh it once and retry.
if ! apt-get install -y -qq --no-install-recommends chromium >"$log" 2>&1; then
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "chromium: apt-get install chromium failed" >&2
    exit 1
  fi
fi

echo "chromium: installed $("$chromium" --version 2>/dev/null || echo "$chromium")"
