#!/usr/bin/env bash
# Time to accuracy on a real tuning task: XGBoost (hist, one thread per model) on scikit-learn's
# digits, tuned over one search space with the same number of candidates, two at a time, by an
# Overdrive sweep (tpe + asha; and tpe + median_stopping), HalvingRandomSearchCV,
# RandomizedSearchCV and Optuna TPE + MedianPruner, all measured in the same run. Markdown tables
# on stdout, progress on stderr; the work folder is a temp folder removed at the end. Environment:
#   OVERDRIVE   the binary to measure (default: build/release/bin/overdrive, `make build` if missing)
#   SEEDS (3)   seeds per method (medians are reported);  TRIALS (40) candidates per search
#   DATASETS (digits)  comma list; `fashion` adds a 20k-row subset of Fashion-MNIST (Debian's
#               dataset-fashion-mnist) -- hours with the defaults, see bench/README.md
#   METHODS ("overdrive,overdrive_median,halving,random,optuna")  a subset to run;
#               overdrive = tpe + asha, overdrive_median = tpe + median_stopping
#   RAW         append every result as a JSON line to this file
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3  # Debian's Python, with python3-xgboost, -sklearn and -optuna
od="${OVERDRIVE:-$root/build/release/bin/overdrive}"
if [[ ! -x "$od" ]]; then make -C "$root" build >/dev/null; fi
if ! "$py" -c 'import xgboost, sklearn, optuna, scipy' 2>/dev/null; then
  echo "tuning bench needs python3-xgboost python3-sklearn python3-optuna python3-scipy:" >&2
  echo "  apt-get install -y python3-xgboost python3-sklearn python3-optuna python3-scipy" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/overdrive-tuning-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
"$py" "$root/bench/tuning_bench.py" --overdrive "$od" --workdir "$work" \
  --seeds "${SEEDS:-3}" --trials "${TRIALS:-40}" --datasets "${DATASETS:-digits}" \
  --methods "${METHODS:-overdrive,overdrive_median,halving,random,optuna}" ${RAW:+--raw "$RAW"}
echo "tuning bench: $((SECONDS - start)) s" >&2
