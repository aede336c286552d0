#!/usr/bin/env bash
# Core benchmarks of the overdrive binary beside baselines measured in the same run: runs of
# `true` (vs xargs -P2 sh -c true and a Python ThreadPoolExecutor), metric ingestion of one run
# writing 1,000,000 points (vs a naive Python + sqlite3 ingester), and kill -9 / resume robustness.
# Markdown tables on stdout, progress on stderr; all workspaces live in one temp folder, removed
# at the end. Environment:
#   OVERDRIVE   the binary to measure (default: build/release/bin/overdrive, built if missing)
#   REPS (3)    repetitions of each timing (medians are reported)
#   TRIALS ("500,1000")  sizes of the `true` sweeps;  POINTS (1000000)
#   ROUNDS (3), KILLS (8)  resume rounds and kill points per round;  SEED (1)
#   SECTIONS ("true,ingest,resume")  a subset to run
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3  # Debian's Python: the baselines must not depend on a venv on PATH
od="${OVERDRIVE:-}"
if [[ -z "$od" ]]; then
  od="$root/build/release/bin/overdrive"
  if [[ ! -f "$root/build/release/build.ninja" ]]; then
    cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DOVERDRIVE_TESTS=OFF >/dev/null
  fi
  ninja -C "$root/build/release" -j"${JOBS:-2}" overdrive >/dev/null
fi

start=$SECONDS
"$py" "$root/bench/core_bench.py" --overdrive "$od" --python "$py" \
  --reps "${REPS:-3}" --trials "${TRIALS:-500,1000}" --points "${POINTS:-1000000}" \
  --rounds "${ROUNDS:-3}" --kills "${KILLS:-8}" --seed "${SEED:-1}" \
  --sections "${SECTIONS:-true,ingest,resume}"
echo "core bench: $((SECONDS - start)) s" >&2
