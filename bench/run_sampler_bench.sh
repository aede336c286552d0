#!/usr/bin/env bash
# Search quality of Overdrive's samplers beside Optuna's, as markdown tables.
# Builds the Release bench in build/bench, runs bench/sampler_quality and bench/optuna_quality.py,
# keeps their JSON lines in build/bench/results/, prints one table per function plus an overhead
# table. Environment: SEEDS (10), TRIALS (200), JOBS (2), BAYESIAN_SEEDS (5: the GP costs ~10 s
# per 200-trial run, the rest of the bench together less than that),
# SKIP_OPTUNA=1 to run Overdrive alone.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/bench"
results="$build/results"
seeds="${SEEDS:-10}"
trials="${TRIALS:-200}"
jobs="${JOBS:-2}"
bayesian_seeds="${BAYESIAN_SEEDS:-5}"
py=/usr/bin/python3  # Debian's Python, where python3-optuna lives

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOVERDRIVE_BENCH=ON \
  -DOVERDRIVE_TESTS=OFF >/dev/null
ninja -C "$build" -j"$jobs" sampler_quality >/dev/null
mkdir -p "$results"

start=$SECONDS
"$build/bench/sampler_quality" --seeds="$seeds" --trials="$trials" --jobs="$jobs" \
  --bayesian-seeds="$bayesian_seeds" >"$results/overdrive.jsonl"
echo "overdrive: $((SECONDS - start)) s" >&2

: >"$results/optuna.jsonl"
if [[ "${SKIP_OPTUNA:-0}" != 1 ]]; then
  if "$py" -c 'import optuna' 2>/dev/null; then
    start=$SECONDS
    "$py" "$root/bench/optuna_quality.py" --seeds="$seeds" --trials="$trials" --jobs="$jobs" \
      >"$results/optuna.jsonl"
    echo "optuna: $((SECONDS - start)) s" >&2
  else
    echo "optuna not importable by $py: apt-get install -y python3-optuna python3-cmaes" >&2
  fi
fi

"$py" - "$results/overdrive.jsonl" "$results/optuna.jsonl" <<'PY'
import json
import math
import sys

lines = []
for path in sys.argv[1:]:
    with open(path) as f:
        lines += [json.loads(l) for l in f if l.strip()]

def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4g}"

quality = [l for l in lines if l["kind"] == "quality"]
functions = list(dict.fromkeys(l["function"] for l in quality))
for fn in functions:
    rows = [l for l in quality if l["function"] == fn]
    budgets = sorted({int(b) for l in rows for b in l["best"]})
    best_median = {b: min(l["best"][str(b)]["median"] for l in rows if str(b) in l["best"])
                   for b in budgets}
    print(f"\n### {fn} (optimum {fmt(rows[0]['optimum'])}; best value found, median (IQR) "
          f"over seeds; lower is better; **bold** = best median per budget)\n")
    print("| sampler | seeds | " + " | ".join(f"after {b}" for b in budgets) + " | s/run |")
    print("|---|---|" + "---|" * len(budgets) + "---|")
    for l in rows:
        cells = []
        for b in budgets:
            s = l["best"].get(str(b))
            if not s:
                cells.append("-")
                continue
            cell = f"{fmt(s['median'])} ({fmt(s['q1'])}–{fmt(s['q3'])})"
            if s["median"] == best_median[b]:
                cell = f"**{cell}**"
            cells.append(cell)
        name = f"{l['impl']} {l['sampler']}" + (" ⚠ " + l["error"] if l.get("error") else "")
        print(f"| {name} | {l['seeds']} | " + " | ".join(cells) +
              f" | {fmt(l['seconds_per_run'])} |")

overhead = [l for l in lines if l["kind"] == "overhead"]
if overhead:
    print("\n### Overhead: milliseconds per suggestion with N completed trials (Hartmann6, "
          "random history)\n")
    sizes = sorted({l["history"] for l in overhead})
    print("| sampler | " + " | ".join(f"N = {n:,}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    keys = list(dict.fromkeys((l["impl"], l["sampler"], l.get("storage", "")) for l in overhead))
    for impl, sampler, storage in keys:
        cells = []
        for n in sizes:
            m = [l for l in overhead if (l["impl"], l["sampler"], l.get("storage", "")) ==
                 (impl, sampler, storage) and l["history"] == n]
            cells.append(f"{m[0]['ms_per_suggestion']:.3g}" if m and "ms_per_suggestion" in m[0]
                         else "-")
        label = f"{impl} {sampler}" + (f" ({storage})" if storage else "")
        print(f"| {label} | " + " | ".join(cells) + " |")
PY
