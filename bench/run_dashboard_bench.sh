#!/usr/bin/env bash
# The dashboard with a big sweep: seeds a workspace with a sweep of TRIALS trials (default 10,000
# runs of `echo acc=...`, 16 at a time), starts `overdrive server` on it and times, in Debian's
# Chromium, how long the sweep page takes to show its trials table and its parallel-coordinates
# plot of every trial. It is the big-sweep test of tests/web/dashboard.test.mjs run alone at full
# size (the test gate runs it with 2,000 trials). Markdown table on stdout, progress on stderr.
# Environment:
#   OVERDRIVE   the binary (default: build/release/bin/overdrive, built if missing)
#   TRIALS (10000), REPS (1)   sweep size and repetitions (each one seeds a fresh workspace)
#   BUDGET_MS (10000)          the test fails when the table or the plot takes longer
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
od="${OVERDRIVE:-}"
if [[ -z "$od" ]]; then
  od="$root/build/release/bin/overdrive"
  if [[ ! -f "$root/build/release/build.ninja" ]]; then
    cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DOVERDRIVE_TESTS=OFF >/dev/null
  fi
  ninja -C "$root/build/release" -j"${JOBS:-2}" overdrive >/dev/null
fi
if [[ ! -x /usr/bin/chromium ]]; then
  echo "dashboard bench: needs Debian's Chromium (scripts/deps.sh build installs it)" >&2
  exit 1
fi
"$root/scripts/web.sh" build >&2
"$root/scripts/web.sh" test-deps >&2

trials="${TRIALS:-10000}"
timings="$(mktemp)"
trap 'rm -f "$timings"' EXIT
for ((i = 1; i <= ${REPS:-1}; i++)); do
  echo "dashboard bench: run $i, seeding $trials trials" >&2
  OVERDRIVE_BIN="$od" WEB_ONLY_BIG=1 WEB_BIG_SWEEP_TRIALS="$trials" \
    WEB_BIG_SWEEP_BUDGET_MS="${BUDGET_MS:-10000}" WEB_TIMINGS_FILE="$timings" \
    node --test --test-reporter=spec "$root/tests/web/dashboard.test.mjs" >&2
done

echo ""
echo "| trials | seeding the sweep (s) | GET /trials/points (ms) | page: trials table (ms) | page: parallel coordinates (ms) | drawing both charts (ms) |"
echo "|---:|---:|---:|---:|---:|---:|"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
  for (const l of lines) {
    const t = JSON.parse(l);
    console.log(`| ${t.trials} | ${t.seed_s.toFixed(1)} | ${t.points_api_ms} | ${t.table_ms} | ${t.pc_ms} | ${t.draw_ms} |`);
  }' "$timings"
echo ""
echo "Page times are from navigation to the first table row / to the plot holding every trial," \
  "in headless Chromium on this machine; the server is the binary above."
