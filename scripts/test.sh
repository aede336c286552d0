#!/usr/bin/env bash
# The whole test suite on the Debug (ASan+UBSan) build. Called by `make test` after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
start=$(date +%s)
ctest --test-dir build/debug -j "$(nproc)" --output-on-failure --timeout 300 "$@"
echo "test suite took $(( $(date +%s) - start ))s"
