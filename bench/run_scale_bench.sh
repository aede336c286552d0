#!/usr/bin/env bash
# Sweep cost as a sweep grows (issue 12 item 5): a sweep of `true` (random sampler, 2 trials at
# a time) of TRIALS trials (100,000), and a tpe sweep of TPE_TRIALS (10,000). For each slice of
# SLICE trials: trials/s, from the trials' creation times in the store. And the controller's
# CPU per trial (user + system of the `job submit` process, which drives the sweep). Goal: the
# last slice within 1.2x of the second. Release build in build/bench-server. Markdown on stdout.
# Environment: TRIALS (100000), TPE_TRIALS (10000), SLICE (10000), TPE_SLICE (1000).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/bench-server"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOVERDRIVE_TESTS=OFF \
  -DOVERDRIVE_BENCH=ON >/dev/null
ninja -C "$build" -j"${JOBS:-2}" overdrive >/dev/null
od="$build/bin/overdrive"
work="$(mktemp -d "${TMPDIR:-/tmp}/overdrive-scale-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

run() {  # name sampler trials slice
  cat > "$work/$1.yml" <<YML
type: sweep
experiment_name: scale
trial:
  command: "true"
sampling_algorithm: $2
search_space:
  x: {type: uniform, min_value: 0, max_value: 1}
  y: {type: choice, values: [1, 2, 3]}
objective: {goal: minimize, primary_metric: m}
limits: {max_total_trials: $3, max_concurrent_trials: 2}
YML
  echo "== $1: $3 trials ($2)" >&2
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/$1.cpu" "$od" --workspace "$work/ws-$1" job submit "$work/$1.yml" \
    > "$work/$1.log" 2>&1 || true
  end=$(date +%s.%N)
  /usr/bin/python3 - "$work/ws-$1/overdrive.db" "$4" "$(cat "$work/$1.cpu")" "$start" "$end" "$1" <<'PY'
import sqlite3, sys
db, sl, cpu, start, end, name = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
rows = [r[0] for r in sqlite3.connect(db).execute(
    "SELECT created_at FROM runs WHERE job_type = 'trial' ORDER BY created_at")]
rates = []
for i in range(0, len(rows) - sl + 1, sl):
    rates.append(sl / max(rows[i + sl - 1] - rows[i], 1e-9))
cpu_s = float(cpu[0]) + float(cpu[1])
print(f"| {name} | {len(rows)} | {end - start:.0f} | " + " / ".join(f"{r:.0f}" for r in rates) +
      f" | {rates[-1] / rates[1]:.2f} | {cpu_s / max(len(rows), 1) * 1000:.2f} |"
      if len(rates) > 1 else f"| {name} | {len(rows)} | {end - start:.0f} | - | - | - |")
PY
}
echo "| sweep | trials | wall s | trials/s per slice | last / second slice | controller CPU ms per trial |"
echo "|---|---|---|---|---|---|"
run random random "${TRIALS:-100000}" "${SLICE:-10000}"
run tpe tpe "${TPE_TRIALS:-10000}" "${TPE_SLICE:-1000}"
