#!/usr/bin/env bash
# Serving throughput and latency with wrk: one XGBoost model served (a) natively by
# `overdrive serve` (libxgboost's C API), (b) by `overdrive serve` through a score.py scoring
# script in 2 Python workers, (c) by a plain Python ThreadingHTTPServer, at 1 and 16 connections.
# Markdown table on stdout, progress on stderr. Every server is stopped at the end (trap), and
# the temp folder removed. Environment:
#   OVERDRIVE   the binary to measure (default: build/release/bin/overdrive, `make build` if missing)
#   DURATION (10)  seconds of load per row;  CONNECTIONS ("1,16");  ROWS (4) rows per request
#   PATHS ("native,script,python")  a subset to run
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3  # Debian's Python, with python3-xgboost and python3-sklearn
od="${OVERDRIVE:-$root/build/release/bin/overdrive}"
if [[ ! -x "$od" ]]; then make -C "$root" build >/dev/null; fi
if ! command -v wrk >/dev/null; then
  echo "serving bench needs wrk: apt-get install -y wrk" >&2
  exit 1
fi
if ! "$py" -c 'import xgboost, sklearn' 2>/dev/null; then
  echo "serving bench needs: apt-get install -y python3-xgboost python3-sklearn" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/overdrive-serving-bench.XXXXXX")"
driver=""
cleanup() {
  # serving_bench.py stops each server itself; this catches the ones left if it was killed.
  if [[ -n "$driver" ]]; then kill -TERM "$driver" 2>/dev/null || true; fi
  if [[ -f "$work/pids" ]]; then
    while read -r pid; do
      kill -TERM -- "-$pid" 2>/dev/null || true
    done <"$work/pids"
    sleep 0.5
    while read -r pid; do
      kill -KILL -- "-$pid" 2>/dev/null || true
    done <"$work/pids"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start=$SECONDS
# In the background + wait, so that a TERM to this script runs the trap at once (bash defers
# traps until a foreground child ends).
"$py" "$root/bench/serving_bench.py" --overdrive "$od" --workdir "$work" \
  --duration "${DURATION:-10}" --connections "${CONNECTIONS:-1,16}" --rows "${ROWS:-4}" \
  --paths "${PATHS:-native,script,python}" &
driver=$!
wait "$driver"
driver=""
echo "serving bench: $((SECONDS - start)) s" >&2
