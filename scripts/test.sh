#!/usr/bin/env bash
# The whole test suite on the Debug (ASan+UBSan) build. Called by `make test` after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# The PostgreSQL store runs the metadata store conformance suite against a real server: a
# throw-away local one (scripts/postgres.sh) unless OVERDRIVE_TEST_PG_URL names another. Set it
# to an empty value to skip those tests (they are then reported as skipped).
if [[ -z ${OVERDRIVE_TEST_PG_URL+set} ]]; then
  if ! OVERDRIVE_TEST_PG_URL=$(scripts/postgres.sh start); then
    echo "test.sh: could not start the test PostgreSQL server (see above);" \
      "OVERDRIVE_TEST_PG_URL= make test skips its tests" >&2
    exit 1
  fi
fi
export OVERDRIVE_TEST_PG_URL
# The Slurm executor is tested against a real one-node cluster on this machine (scripts/slurm.sh:
# munge, slurmctld, slurmd). When it cannot start, those tests are skipped, and this says so
# loudly before and after the suite. OVERDRIVE_TEST_SLURM=0 skips them on purpose; =1 uses a
# cluster that is already running.
slurm_warning=""
if [[ -z ${OVERDRIVE_TEST_SLURM+set} ]]; then
  if scripts/slurm.sh start; then
    OVERDRIVE_TEST_SLURM=1
  else
    OVERDRIVE_TEST_SLURM=0
    slurm_warning="test.sh: WARNING: the test Slurm cluster did not start (see above): the Slurm
test.sh: WARNING: executor tests are SKIPPED. Fix it and check with: scripts/slurm.sh start"
    printf '\n%s\n\n' "$slurm_warning" >&2
  fi
fi
export OVERDRIVE_TEST_SLURM
[[ -n $slurm_warning ]] && trap 'printf "\n%s\n" "$slurm_warning" >&2' EXIT
start=$(date +%s)
ctest --test-dir build/debug -j "$(nproc)" --output-on-failure --timeout 300 "$@"
echo "test suite took $(( $(date +%s) - start ))s"
