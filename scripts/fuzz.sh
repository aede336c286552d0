#!/usr/bin/env bash
# Builds the job-file parser fuzzer with clang (libFuzzer + ASan) and runs it for N seconds
# (default 60), seeded with the example jobs, the fuzz seeds and the bad-job test corpus.
# Usage: scripts/fuzz.sh [SECONDS]. Crashes are written to build/fuzz/artifacts/.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${OVERDRIVE_FUZZ_BUILD:-$root/build/fuzz}"

CXX="${CXX:-clang++}" cmake -S "$root" -B "$build" -G Ninja \
  -DOVERDRIVE_FUZZ=ON -DOVERDRIVE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j"${FUZZ_BUILD_JOBS:-2}" job_parser_fuzz

# libFuzzer writes new inputs into the first folder; seeds are copied in so the tree stays clean.
corpus="$build/corpus"
mkdir -p "$corpus" "$build/artifacts"
find "$root/fuzz/seeds" "$root/tests/spec/bad_jobs" "$root/examples" -name '*.yml' -type f \
  -exec cp -f {} "$corpus/" \; 2>/dev/null || true

"$build/fuzz/job_parser_fuzz" "$corpus" \
  -dict="$root/fuzz/yaml.dict" \
  -max_total_time="$seconds" \
  -max_len=4096 \
  -timeout=10 \
  -rss_limit_mb=2048 \
  -print_final_stats=1 \
  -artifact_prefix="$build/artifacts/"
