#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build/fuzz and runs each for SECONDS
# (per target, default 60), one after the other.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   TARGET is a name without the _fuzz suffix; all of them by default:
#     job_parser        Azure ML job YAML (spec/)
#     environment       Azure ML environment YAML, conda files, azureml: references (spec/)
#     jsonl_collector   metrics JSON lines (metrics/jsonl_collector.cpp)
#     stdout_collector  name=value stdout lines and custom RE2 patterns (metrics/stdout_collector.cpp)
#     json_bounded      JSON request bodies, UTF-8 and name checks (common/input_limits)
#     snapshot_unpack   uploaded code tars (store/snapshot.cpp UnpackSnapshot)
#   e.g. `scripts/fuzz.sh 300 snapshot_unpack`; `make fuzz` runs all with the default.
#
# Seeds come from fuzz/seeds/<target>/ (plus the examples and bad-job corpus for job_parser, the
# bad-environment corpus for environment)
# and are copied into build/fuzz/corpus/<target>/, which keeps what the fuzzer finds between runs.
# Crashes go to build/fuzz/artifacts/<target>/; the script exits non-zero when any target found
# one. Reproduce with build/fuzz/fuzz/<target>_fuzz <crash file>.
# Environment: FUZZ_BUILD_JOBS (ninja -j, default 2), OVERDRIVE_FUZZ_BUILD (build folder),
# OVERDRIVE_FUZZ_LENIENT=1 (skip checks of known, reported findings: see fuzz/fuzz_util.hpp),
# FUZZ_KEEP_GOING=1 (libFuzzer -fork=1 -ignore_crashes=1: save each crash and keep fuzzing, so a
# known crash does not end the run).
set -euo pipefail

all_targets=(job_parser environment jsonl_collector stdout_collector json_bounded snapshot_unpack)
seconds="${1:-60}"
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi
for t in "${targets[@]}"; do
  if [[ ! " ${all_targets[*]} " == *" $t "* ]]; then
    echo "unknown fuzz target '$t'; known: ${all_targets[*]}" >&2
    exit 2
  fi
done

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${OVERDRIVE_FUZZ_BUILD:-$root/build/fuzz}"

CXX="${CXX:-clang++}" cmake -S "$root" -B "$build" -G Ninja \
  -DOVERDRIVE_FUZZ=ON -DOVERDRIVE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j"${FUZZ_BUILD_JOBS:-2}" "${targets[@]/%/_fuzz}"

# The targets write and unpack files on every input: a tmpfs makes that ~20x faster.
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi

failed=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  # libFuzzer writes new inputs into the first folder; seeds are copied in so the tree stays clean.
  cp -f "$root/fuzz/seeds/$t"/* "$corpus/" 2>/dev/null || true
  args=(-max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/" -max_total_time="$seconds")
  if [[ "${FUZZ_KEEP_GOING:-0}" == 1 ]]; then args+=(-fork=1 -ignore_crashes=1); fi
  case "$t" in
    job_parser)
      find "$root/tests/spec/bad_jobs" "$root/examples" -name '*.yml' -type f \
        -exec cp -f {} "$corpus/" \; 2>/dev/null || true
      args+=(-dict="$root/fuzz/yaml.dict") ;;
    environment)
      find "$root/tests/spec/bad_environments" -name '*.y*ml' -type f \
        -exec cp -f {} "$corpus/" \; 2>/dev/null || true
      args+=(-dict="$root/fuzz/yaml.dict") ;;
    jsonl_collector | json_bounded) args+=(-dict="$root/fuzz/json.dict") ;;
    stdout_collector) args+=(-dict="$root/fuzz/stdout.dict") ;;
    snapshot_unpack) args+=(-max_len=16384) ;;
  esac
  echo "== $t: ${seconds}s, corpus $corpus"
  marker="$artifacts/.started"
  touch "$marker"
  status=0
  "$build/fuzz/${t}_fuzz" "$corpus" "${args[@]}" || status=$?
  # With FUZZ_KEEP_GOING libFuzzer exits 0 after crashes: the new artifacts are the verdict.
  found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' \) -newer "$marker" | wc -l)
  if [[ $status -ne 0 || $found -gt 0 ]]; then
    failed+=("$t")
    echo "== $t: $found new crash/leak/timeout input(s) in $artifacts" >&2
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: crashes in ${failed[*]}; inputs under $build/artifacts/<target>/" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}: no crash in ${seconds}s each"
