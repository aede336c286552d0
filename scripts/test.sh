#!/usr/bin/env bash
# The whole test suite on the Debug (ASan+UBSan) build. Called by `make test` after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# Container runs (LaunchSpec::container) are tested with real Podman and a small base image built
# from Debian's archive (scripts/podman.sh: podman's configuration for this machine, then the
# image, about 45 s once; both take well under a second when done). Like PostgreSQL and Slurm
# below, a podman that cannot be set up fails the run; OVERDRIVE_TEST_PODMAN=0 skips those tests
# on purpose (reported as skipped), =1 uses podman as it is.
if [[ -z ${OVERDRIVE_TEST_PODMAN+set} ]]; then
  if ! scripts/podman.sh setup || ! scripts/podman.sh base-image >/dev/null; then
    echo "test.sh: podman could not be set up (see above). Check it with" \
      "scripts/podman.sh setup; OVERDRIVE_TEST_PODMAN=0 make test skips its tests" >&2
    exit 1
  fi
  OVERDRIVE_TEST_PODMAN=1
fi
export OVERDRIVE_TEST_PODMAN
# The PostgreSQL store runs the metadata store conformance suite against a real server: a
# throw-away local one (scripts/postgres.sh) unless OVERDRIVE_TEST_PG_URL names another. Set it
# to an empty value to skip those tests (they are then reported as skipped).
pg_started=0
if [[ -z ${OVERDRIVE_TEST_PG_URL+set} ]]; then
  pg_url=$(scripts/postgres.sh url 2>/dev/null || true)
  if [[ -z $pg_url ]] || ! psql "$pg_url" -Atc 'SELECT 1' >/dev/null 2>&1; then pg_started=1; fi
  if ! OVERDRIVE_TEST_PG_URL=$(scripts/postgres.sh start); then
    echo "test.sh: could not start the test PostgreSQL server (see above);" \
      "OVERDRIVE_TEST_PG_URL= make test skips its tests" >&2
    exit 1
  fi
fi
export OVERDRIVE_TEST_PG_URL
# The Slurm executor is tested against a real one-node cluster on this machine (scripts/slurm.sh:
# munge, slurmctld, slurmd). Like PostgreSQL, a cluster that cannot start fails the run: its tests
# must not pass by being skipped. OVERDRIVE_TEST_SLURM=0 skips them on purpose (they are then
# reported as skipped); =1 uses a cluster that is already running.
# What this script started, it stops again when the suite ends (set OVERDRIVE_TEST_KEEP=1 to keep
# both servers up for the next run).
cleanup=()
if [[ -z ${OVERDRIVE_TEST_SLURM+set} ]]; then
  slurm_was_up=0
  sinfo -h >/dev/null 2>&1 && slurm_was_up=1
  if ! scripts/slurm.sh start; then
    echo "test.sh: the test Slurm cluster did not start (see above). Check it with" \
      "scripts/slurm.sh start; OVERDRIVE_TEST_SLURM=0 make test skips its tests" >&2
    exit 1
  fi
  OVERDRIVE_TEST_SLURM=1
  [[ $slurm_was_up -eq 0 ]] && cleanup+=("scripts/slurm.sh stop")
fi
export OVERDRIVE_TEST_SLURM
# Datastores are tested against real storage emulators from npm (scripts/storage.sh: Azurite for
# Azure Blob Storage, s3rver for S3). OVERDRIVE_TEST_STORAGE=0 skips those tests on purpose;
# OVERDRIVE_TEST_AZURITE / OVERDRIVE_TEST_S3 already set use those emulators as they are.
if [[ ${OVERDRIVE_TEST_STORAGE:-1} != 0 && -z ${OVERDRIVE_TEST_AZURITE:-} ]]; then
  storage_was_up=0
  scripts/storage.sh env >/dev/null 2>&1 && storage_was_up=1
  if ! storage_env=$(scripts/storage.sh start); then
    echo "test.sh: the storage emulators did not start (see above). Check them with" \
      "scripts/storage.sh start; OVERDRIVE_TEST_STORAGE=0 make test skips their tests" >&2
    exit 1
  fi
  eval "$storage_env"
  [[ $storage_was_up -eq 0 ]] && cleanup+=("scripts/storage.sh stop")
fi
export OVERDRIVE_TEST_STORAGE=${OVERDRIVE_TEST_STORAGE:-1}
if [[ ${OVERDRIVE_TEST_KEEP:-0} != 1 && ${pg_started:-0} -eq 1 ]]; then
  cleanup+=("scripts/postgres.sh stop")
fi
if [[ ${OVERDRIVE_TEST_KEEP:-0} != 1 && ${#cleanup[@]} -gt 0 ]]; then
  trap 'for c in "${cleanup[@]}"; do $c >/dev/null 2>&1 || true; done' EXIT
fi
start=$(date +%s)
ctest --test-dir build/debug -j "$(nproc)" --output-on-failure --timeout 300 "$@"
echo "test suite took $(( $(date +%s) - start ))s"
