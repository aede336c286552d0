#!/usr/bin/env bash
# `make demo`: the main job on the embedded default (SQLite workspace, local executor).
# Runs the example sweep in a workspace of its own and shows the best trial.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bin/overdrive
ws=${OVERDRIVE_DEMO_WORKSPACE:-build/demo-workspace}
export OVERDRIVE_WORKSPACE=$ws
echo "== overdrive demo: workspace $ws =="
echo "== sweep: examples/sklearn-sweep/sweep.yml (digits, MLP, TPE sampling, median stopping) =="
set +e
"$bin" job submit examples/sklearn-sweep/sweep.yml
rc=$?
set -e
sweep=$("$bin" job list --limit 1 --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo
"$bin" job show "$sweep" > "$ws/last-show.txt"
sed -n '1,32p' "$ws/last-show.txt"
echo
echo "Look closer:"
echo "  $bin --workspace $ws job show $sweep"
echo "  $bin --workspace $ws job export $sweep --csv"
echo "  $bin --workspace $ws job show <trial-id>      # a trial's params, metrics, artifacts"
exit $rc
