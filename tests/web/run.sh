#!/bin/sh
# The web_dashboard ctest: skips (exit 77) when Debian's Chromium is missing, else builds the
# dashboard if a source changed and runs the browser tests with node's test runner.
#   OVERDRIVE_BIN=build/debug/bin/overdrive tests/web/run.sh
set -eu
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "SKIP web_dashboard: no Chromium at $chromium (scripts/deps.sh build installs Debian's chromium)"
  exit 77
fi
cd "$(dirname "$0")/../.."
scripts/web.sh build
scripts/web.sh test-deps
exec node --test --test-reporter=spec tests/web/dashboard.test.mjs
