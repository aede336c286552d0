#!/usr/bin/env bash
# Per-run cost of a container run over a bare process on the local executor: RUNS (20) runs of
# COMMAND (`true`), one at a time, bare and inside the test base image interleaved, each timed
# from Submit to its final update; `podman run` and `/bin/sh -c` by themselves as references.
# Sets podman up first (scripts/podman.sh setup, base-image: ~45 s once). Builds the Release
# bench binary in BUILD (build/bench). A markdown table on stdout; see bench/README.md.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build/bench}"

"$root/scripts/podman.sh" setup >&2
image=$("$root/scripts/podman.sh" base-image)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOVERDRIVE_BENCH=ON \
  -DOVERDRIVE_TESTS=OFF >/dev/null
ninja -C "$build" -j"${JOBS:-2}" container_bench >/dev/null
"$build/bench/container_bench" --runs="${RUNS:-20}" --command="${COMMAND:-true}" --image="$image"
