#!/usr/bin/env bash
# `overdrive server` against hostile clients (issue 11), beside the Python peer of the server
# bench (http.server + sqlite3) taking the same requests: the server's RSS before and after 100
# malformed 10 MB bodies (goal: back within 10% of the start), /health latency while 500 idle
# connections are open (goal: answered within 100 ms), and the time to refuse a 1 GB chunked
# body (goal: refused after the limit, not after reading it all). The client is
# bench/hostile_bench.py. Builds the Release binary in build/bench-server. Markdown on stdout.
# Environment: BODIES (100), BODY_MB (10), IDLE (500), CHUNKED_MB (1024), HOSTILE_PEERS
# ("overdrive,python").
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/bench-server"
py=/usr/bin/python3
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOVERDRIVE_TESTS=OFF \
  -DOVERDRIVE_BENCH=ON >/dev/null
ninja -C "$build" -j"${JOBS:-2}" overdrive >/dev/null
od="$build/bin/overdrive"
work="$(mktemp -d "${TMPDIR:-/tmp}/overdrive-hostile-bench.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 8192 2>/dev/null || true

wait_url() {  # log file -> URL printed by the server
  for _ in $(seq 200); do
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$1" | head -n1 || true)
    [[ -n "$url" ]] && { echo "$url"; return 0; }
    sleep 0.05
  done
  echo "server did not start: $(cat "$1")" >&2
  return 1
}

measure() {  # name url pid
  echo "== $1: ${BODIES:-100} bodies of ${BODY_MB:-10} MB, ${IDLE:-500} idle connections, ${CHUNKED_MB:-1024} MB chunked" >&2
  "$py" "$root/bench/hostile_bench.py" --url "$2" --pid "$3" --bodies "${BODIES:-100}" \
    --body-mb "${BODY_MB:-10}" --idle "${IDLE:-500}" --chunked-mb "${CHUNKED_MB:-1024}" \
    > "$work/$1.json"
  cat "$work/$1.json" >&2
}

peers=",${HOSTILE_PEERS:-overdrive,python},"
if [[ $peers == *,overdrive,* ]]; then
  "$od" --workspace "$work/ws" server --port 0 > "$work/od.out" 2> "$work/od.log" &
  pids+=($!)
  measure overdrive "$(wait_url "$work/od.log")" "${pids[-1]}"
fi
if [[ $peers == *,python,* ]]; then
  "$py" "$root/bench/server_peer.py" --db "$work/peer.db" --port 0 > "$work/peer.log" 2>&1 &
  pids+=($!)
  measure python "$(wait_url "$work/peer.log")" "${pids[-1]}"
fi

"$py" - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
rows = [("overdrive", "Overdrive"), ("python", "Python http.server + sqlite3")]
print("| | " + " | ".join(label for key, label in rows if os.path.exists(f"{work}/{key}.json")) + " |")
print("|---|" + "---|" * sum(os.path.exists(f"{work}/{k}.json") for k, _ in rows))
data = [json.load(open(f"{work}/{k}.json")) for k, _ in rows if os.path.exists(f"{work}/{k}.json")]
def row(label, fn):
    print(f"| {label} | " + " | ".join(fn(d) for d in data) + " |")
row("RSS before -> after the malformed bodies (MiB)",
    lambda d: f"{d['rss_start_mib']:.0f} -> {d['rss_end_mib']:.0f} ({(d['rss_end_mib'] / d['rss_start_mib'] - 1) * 100:+.0f}%)")
row("answers to the malformed bodies", lambda d: ", ".join(f"{k}: {v}" for k, v in d["body_statuses"].items()))
row("idle connections held open", lambda d: str(d["idle_open"]))
row("/health under them: p50 / max (ms)", lambda d: f"{d['health_ms_p50']:.1f} / {d['health_ms_max']:.1f}")
row("/health answers", lambda d: ", ".join(f"{k}: {v}" for k, v in d["health_statuses"].items()))
row("chunked body: refused after (s) / MiB sent by then / status",
    lambda d: f"{d['chunked_refused_s']:.2f} / {d['chunked_sent_mib']} / {d['chunked_status']}")
row("RSS after the chunked body (MiB)", lambda d: f"{d['rss_after_chunked_mib']:.0f}")
PY
