#!/usr/bin/env bash
# Slurm benchmarks of the overdrive binary on the real one-node cluster of scripts/slurm.sh
# (started here if it is not running): per-trial overhead beyond Slurm's own scheduling latency
# (a sweep of `true` vs plain `sbatch --wrap` jobs), the controller's Slurm commands per minute
# with 20 and 100 trials in flight, and slot utilisation of a sweep of 1-10 s trials on the local
# executor and on Slurm. Markdown tables on stdout, progress on stderr; all workspaces live in one
# temp folder, removed at the end, and every Slurm job it submitted is canceled. Environment:
#   OVERDRIVE      the binary to measure (default: build/release/bin/overdrive, built if missing)
#   SECTIONS ("overhead,poll,util")  a subset to run
#   TRIALS (100), REPS (1)           section 1: trials of `true`, repetitions
#   POLL_SIZES ("20,100"), WINDOW (60)  section 2: trials in flight, seconds counted
#   UTIL_TRIALS (40), SEED (1)       section 3
#   POLL_INTERVAL (1)                the compute targets' --poll-interval in seconds
#   POLL_HOLD (1)                    section 2 submits held trials (pending, taking no CPU and no
#                                    place in the queue from other users); 0: they queue and run
#   PARTITION (debug), POLL_PARTITION (low: preemptible, so others' jobs go first)
# Needs root for scripts/slurm.sh start (or a cluster already running: sinfo answers).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3  # Debian's Python: the script must not depend on a venv on PATH
od="${OVERDRIVE:-}"
if [[ -z "$od" ]]; then
  od="$root/build/release/bin/overdrive"
  if [[ ! -f "$root/build/release/build.ninja" ]]; then
    cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DOVERDRIVE_TESTS=OFF >/dev/null
  fi
  ninja -C "$root/build/release" -j"${JOBS:-2}" overdrive overdrive-shim >/dev/null
fi

if ! sinfo -h >/dev/null 2>&1; then
  "$root/scripts/slurm.sh" start >&2
fi

start=$SECONDS
"$py" "$root/bench/slurm_bench.py" --overdrive "$od" \
  --sections "${SECTIONS:-overhead,poll,util}" \
  --trials "${TRIALS:-100}" --reps "${REPS:-1}" \
  --poll-sizes "${POLL_SIZES:-20,100}" --window "${WINDOW:-60}" \
  --util-trials "${UTIL_TRIALS:-40}" --seed "${SEED:-1}" \
  --poll-interval "${POLL_INTERVAL:-1}" --poll-hold "${POLL_HOLD:-1}" \
  --partition "${PARTITION:-debug}" --poll-partition "${POLL_PARTITION:-low}"
echo "slurm bench: $((SECONDS - start)) s" >&2
