#!/usr/bin/env bash
# `make demo`: the flagship scenario on the embedded default (SQLite workspace, local executor):
# tune an FAQ-matching model with a sweep (early termination on), register the best trial's
# model, serve it over HTTP and ask it a real question.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/release/bin/overdrive
py=/usr/bin/python3
ws=${OVERDRIVE_DEMO_WORKSPACE:-$PWD/build/demo-workspace}
export OVERDRIVE_WORKSPACE=$ws
question=${DEMO_QUESTION:-How do I sort a hash by value?}

echo "== 1/4 data: the Perl, Python and Debian FAQs from Debian's archive =="
export OVERDRIVE_DATA_DIR=${OVERDRIVE_DATA_DIR:-$HOME/.cache/overdrive/faq}
scripts/fetch_faq_data.sh "$OVERDRIVE_DATA_DIR" >/dev/null
echo "cached in $OVERDRIVE_DATA_DIR"

echo "== 2/4 sweep: examples/faq-matching/sweep.yml (TPE sampling, median stopping, 2 at a time) =="
# The job names Azure's curated AzureML-sklearn-1.5: map it to a local venv (idempotent).
"$bin" environment create -f examples/environments/sklearn-1.5.yml >/dev/null
"$bin" job submit examples/faq-matching/sweep.yml
sweep=$("$bin" job list --limit 1 --json | $py -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$bin" job show "$sweep" --json > "$ws/demo-sweep.json"

echo "== 3/4 registry: the sweep registered its best trial's model =="
"$bin" model list
version=$("$bin" model show faq-matcher --json | $py -c 'import json,sys; print(json.load(sys.stdin)["version"])')
"$bin" model alias faq-matcher "$version" production

echo "== 4/4 serving faq-matcher@production =="
port=${DEMO_PORT:-$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
"$bin" serve faq-matcher@production --port "$port" --workers 1 > "$ws/demo-serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
answer=$($py - "$port" "$question" "$server" "$ws/demo-serve.log" <<'PY'
import json, os, sys, time, urllib.request
port, question, server, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
base = f"http://127.0.0.1:{port}"
for _ in range(300):  # the scoring worker loads the model (a few seconds)
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as r:
            if json.load(r).get("status") == "ready":
                break
    except Exception:
        pass
    try:
        os.kill(server, 0)
    except OSError:
        sys.exit("overdrive serve stopped before it was ready:\n" + open(log).read())
    time.sleep(0.2)
else:
    sys.exit("overdrive serve was not ready after 60 s:\n" + open(log).read())
req = urllib.request.Request(base + "/score", data=json.dumps({"data": [question]}).encode(),
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=60) as r:
    result = json.load(r)
top = result[0] if isinstance(result, list) else result
print(json.dumps(top))
PY
)
$py - "$ws/demo-sweep.json" "$answer" "$port" "$question" "$version" <<'PY'
import json, sys
sweep = json.load(open(sys.argv[1]))
answer, port, question, version = json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
trials = sweep["trials"]
best = next(t for t in trials if t["id"] == sweep["best_trial"])
stopped = sum(t["status"] == "early_terminated" for t in trials)
used, saved = sweep["trial_seconds"], sweep["saved_trial_seconds"]
m = best["metrics"]
print()
print(f"best trial {best['id']} val_mrr={m['val_mrr']['best']:.3f} test_top1={m['test_top1']['last']:.3f} "
      f"test_mrr={m['test_mrr']['last']:.3f} ({len(trials)} trials, {stopped} stopped early, "
      f"saved {100 * saved / max(used + saved, 1e-9):.0f}% of trial time); "
      f"registered model faq-matcher:{version}; serving on http://127.0.0.1:{port}")
print(f"'{question}' ->")
for i, hit in enumerate(answer[:3], 1):
    print(f"  {i}. [{hit['source']}] {hit['question']}  (p={hit['probability']:.3f})")
PY
echo
echo "Look closer (workspace $ws):"
echo "  $bin job show $sweep              # trials ranked by val_mrr"
echo "  $bin job export $sweep --csv"
echo "  $bin model show faq-matcher@production"
echo "  $bin serve faq-matcher@production --port 8080"
