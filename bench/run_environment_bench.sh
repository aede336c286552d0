#!/usr/bin/env bash
# Environments (issue 13): time to first trial with a cold and a warm cache (host, venvs, a
# container image, an image with a conda file), per-trial cost in a cached environment, and a
# 20-trial sweep where every trial builds its own venv vs Overdrive's one shared build. Markdown
# tables on stdout, progress on stderr; see bench/README.md. ~4 min on 2 cores.
# Builds the Release binary in BUILD (build/bench-env) unless OVERDRIVE names one; sets podman
# up (scripts/podman.sh setup, base-image: ~45 s once) unless SKIP_CONTAINERS=1. Environment:
#   RUNS (3)          reps of the first-trial and per-trial sections (medians are reported)
#   TRIALS (30)       trials per sweep in the per-trial section (one at a time)
#   SWEEP_TRIALS (20), SWEEP_REPS (1)   the venv-per-trial vs shared-build sweep
#   SECTIONS ("first,overhead,sweep")   a subset to run
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3  # Debian's Python: the venvs are made from it; not pyenv's python3 on PATH
od="${OVERDRIVE:-}"
if [[ -z "$od" ]]; then
  build="${BUILD:-$root/build/bench-env}"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOVERDRIVE_TESTS=OFF \
    >/dev/null
  nice ninja -C "$build" -j"${JOBS:-2}" overdrive >/dev/null
  od="$build/bin/overdrive"
fi

container_args=()
image=localhost/overdrive-base:latest
if [[ "${SKIP_CONTAINERS:-0}" == 1 ]]; then
  container_args=(--skip-container)
else
  "$root/scripts/podman.sh" setup >&2
  "$root/scripts/podman.sh" base-image >/dev/null
fi

start=$SECONDS
"$py" "$root/bench/environment_bench.py" --overdrive "$od" --image "$image" \
  --runs "${RUNS:-3}" --trials "${TRIALS:-30}" --sweep-trials "${SWEEP_TRIALS:-20}" \
  --sweep-reps "${SWEEP_REPS:-1}" --sections "${SECTIONS:-first,overhead,sweep}" \
  "${container_args[@]}"
echo "environment bench: $((SECONDS - start)) s" >&2
