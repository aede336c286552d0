#!/usr/bin/env bash
# `make bench`: every bench/run_*.sh in turn, each printing its markdown tables.
# Skip one with SKIP_<NAME>=1, NAME from run_<name>_bench.sh upper-cased: SKIP_CORE=1,
# SKIP_SAMPLER=1 (SKIP_SAMPLERS=1 works too), SKIP_TUNING=1, SKIP_SERVING=1. Each script's own
# environment knobs pass through (see bench/README.md), e.g. REPS=1 SEEDS=3 BAYESIAN_SEEDS=1 make bench for a quick look.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ "${SKIP_SAMPLERS:-0}" == 1 ]]; then export SKIP_SAMPLER=1; fi

status=0
for script in "$root"/bench/run_*.sh; do
  name="$(basename "$script" .sh)"
  name="${name#run_}"
  name="${name%_bench}"
  skip_var="SKIP_${name^^}"
  if [[ "${!skip_var:-0}" == 1 ]]; then
    echo "== $name bench: skipped ($skip_var=1)" >&2
    continue
  fi
  echo "" && echo "## ${name} bench ($(basename "$script"))"
  if ! "$script"; then
    echo "== $name bench FAILED" >&2
    status=1
  fi
done
exit "$status"
