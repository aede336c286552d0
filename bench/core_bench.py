#!/usr/bin/python3
"""Core benchmarks of the overdrive binary, each beside a baseline timed in the same run.

1. runs of `true`: a sweep of N trials whose command is `true`, two at a time, beside
   `xargs -P2 /bin/sh -c true` and a Python ThreadPoolExecutor(2) running subprocess.run(["true"]).
2. metric ingestion: one command job writing 1,000,000 points (stdout `loss=...` lines, and JSON
   lines to $OVERDRIVE_METRICS_FILE) beside a naive Python parse + sqlite3 executemany.
3. resume robustness: kill -9 of the sweep controller at random moments, `job resume` after each,
   then a check of trial count, final states, duplicated params and metric counts.

Prints markdown tables on stdout; progress on stderr. Every workspace lives under one temp folder
that is removed at the end. Run with Debian's /usr/bin/python3 (see bench/run_core_bench.sh).
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def timed(cmd, **kw):
    """Runs cmd to completion; returns (seconds, CompletedProcess)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, **kw)
    return time.perf_counter() - t0, p


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    """'median (min–max)' of a list of seconds."""
    if len(xs) == 1:
        return f"{xs[0]:.3f}"
    return f"{median(xs):.3f} ({min(xs):.3f}–{max(xs):.3f})"


class Bench:
    def __init__(self, args):
        self.od = os.path.abspath(args.overdrive)
        self.args = args
        self.root = tempfile.mkdtemp(prefix="overdrive-core-bench-")
        self.counter = 0

    def workspace(self):
        self.counter += 1
        ws = os.path.join(self.root, f"ws{self.counter}")
        return ws

    def od_cmd(self, ws, *argv):
        return [self.od, "--workspace", ws, *argv]

    def od_json(self, ws, *argv):
        p = subprocess.run(self.od_cmd(ws, *argv, "--json"), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"overdrive {' '.join(argv)} failed ({p.returncode}): {p.stderr}")
        return json.loads(p.stdout)

    def write(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # ---------------------------------------------------------------- 1. runs of `true`
    def runs_of_true(self):
        a = self.args
        print("\n### Runs of `true`, two at a time (wall seconds: median (min–max) over "
              f"{a.reps} reps; overhead = (overdrive − sh) × 2 / N)\n")
        print("| N | overdrive sweep s | trials/s | sh -c true (xargs -P2) s | runs/s | "
              "python ThreadPool(2) s | runs/s | overdrive ÷ sh | overhead ms/run |")
        print("|---|---|---|---|---|---|---|---|---|")
        py_base = ("import concurrent.futures as cf, subprocess, sys\n"
                   "n = int(sys.argv[1])\n"
                   "with cf.ThreadPoolExecutor(2) as ex:\n"
                   "    list(ex.map(lambda _: subprocess.run(['true'], check=True), range(n)))\n")
        results = {}
        for n in a.trials:
            yml = self.write(f"true{n}.yml",
                             "type: sweep\ntrial:\n  command: \"true\"\n"
                             "sampling_algorithm: {type: random, seed: 1}\n"
                             "search_space:\n  x: {type: uniform, min_value: 0, max_value: 1}\n"
                             "objective: {goal: maximize, primary_metric: acc}\n"
                             f"limits: {{max_total_trials: {n}, max_concurrent_trials: 2}}\n")
            od_t, sh_t, py_t = [], [], []
            for rep in range(a.reps):
                # Interleaved so that load changes on the shared box hit all three alike.
                t, p = timed(["sh", "-c", f"seq {n} | xargs -P2 -I{{}} /bin/sh -c true"])
                assert p.returncode == 0
                sh_t.append(t)
                t, p = timed([a.python, "-c", py_base, str(n)])
                assert p.returncode == 0
                py_t.append(t)
                ws = self.workspace()
                t, p = timed(self.od_cmd(ws, "job", "submit", yml, "--json"),
                             capture_output=True, text=True)
                if p.returncode != 0:
                    raise RuntimeError(f"sweep of {n} `true` failed: {p.stderr[-2000:]}")
                od_t.append(t)
                sweep = self.od_json(ws, "job", "show", json.loads(p.stdout)["id"])
                done = sum(1 for tr in sweep["trials"] if tr["status"] == "completed")
                if done != n:
                    raise RuntimeError(f"sweep of {n}: {done} trials completed")
                shutil.rmtree(ws)
                log(f"true x{n} rep {rep + 1}: overdrive {t:.2f}s sh {sh_t[-1]:.2f}s "
                    f"python {py_t[-1]:.2f}s")
            od, sh, py = median(od_t), median(sh_t), median(py_t)
            results[n] = (od, sh, py)
            print(f"| {n:,} | {spread(od_t)} | {n / od:.0f} | {spread(sh_t)} | {n / sh:.0f} | "
                  f"{spread(py_t)} | {n / py:.0f} | {od / sh:.1f}x | "
                  f"{(od - sh) * 2 / n * 1000:.2f} |")
        return results

    # ---------------------------------------------------------------- 2. metric ingestion
    def ingestion(self):
        a = self.args
        n = a.points
        gens = {
            # awk prints `loss=0.123` lines; the JSON form is the Python client's line shape.
            "stdout `loss=x`": ("awk 'BEGIN{for(i=0;i<%d;i++) printf \"loss=%%.3f\\n\", "
                                "(i%%1000)/1000}'" % n, None),
            "JSONL metrics file": ("awk 'BEGIN{for(i=0;i<%d;i++) printf \"{\\\"name\\\": "
                                   "\\\"loss\\\", \\\"value\\\": %%.3f, \\\"step\\\": %%d}\\n\", "
                                   "(i%%1000)/1000, i}'" % n, "$OVERDRIVE_METRICS_FILE"),
        }
        baseline = self.write("naive_ingest.py", NAIVE_INGEST)
        print(f"\n### Metric ingestion: one run writing {n:,} points (seconds: median (min–max) "
              f"over {a.reps} reps; points/s = N / (job − generator))\n")
        print("| source | generator alone s | overdrive job s | of which the run s | "
              "overdrive points/s | python+sqlite3 s | python points/s | overdrive ÷ python "
              "speed | stored |")
        print("|---|---|---|---|---|---|---|---|---|")
        empty_yml = self.write("empty.yml", "type: command\ncommand: \"true\"\n")
        empty_t = []
        for label, (gen, dest) in gens.items():
            kind = "kv" if dest is None else "jsonl"
            job_cmd = gen if dest is None else f"{gen} > \"{dest}\""
            yml = self.write(f"ingest_{kind}.yml",
                             "type: command\ncommand: " + json.dumps(job_cmd) + "\n")
            data = os.path.join(self.root, f"gen_{kind}.txt")
            gen_t, od_t, run_t, py_t = [], [], [], []
            stored = "?"
            for rep in range(a.reps):
                t, p = timed(["sh", "-c", f"{gen} > {data}"])
                assert p.returncode == 0
                gen_t.append(t)
                t, p = timed([a.python, baseline, kind, data, os.path.join(self.root, "naive.db")],
                             capture_output=True, text=True)
                if p.returncode != 0 or int(p.stdout) != n:
                    raise RuntimeError(f"naive baseline: {p.stdout} {p.stderr}")
                py_t.append(t)
                ws = self.workspace()
                t, p = timed(self.od_cmd(ws, "job", "submit", yml, "--json"),
                             capture_output=True, text=True)
                if p.returncode != 0:
                    raise RuntimeError(f"ingestion job failed: {p.stderr[-2000:]}")
                od_t.append(t)
                job = json.loads(p.stdout)
                run_t.append(job["duration_s"] or 0.0)
                count = job["metrics"].get("loss", {}).get("count", 0)
                if rep == 0:
                    # The full series once: every point stored, once each.
                    series = self.od_json(ws, "runs", "metrics", job["id"])["metrics"]["loss"]
                    steps = {pt["step"] for pt in series}
                    stored = f"{len(series):,} points, {len(steps):,} steps"
                    if len(series) != n or len(steps) != n:
                        stored = "⚠ " + stored
                    del series, steps
                elif count != n:
                    stored = f"⚠ rep {rep + 1}: {count:,} points"
                t, p = timed(self.od_cmd(ws, "job", "submit", empty_yml, "--json"),
                             capture_output=True, text=True)
                empty_t.append(t)
                shutil.rmtree(ws)
                log(f"ingest {kind} rep {rep + 1}: generator {gen_t[-1]:.2f}s overdrive "
                    f"{od_t[-1]:.2f}s (run {run_t[-1]:.2f}s) python {py_t[-1]:.2f}s")
            os.remove(data)
            net = median(od_t) - median(gen_t)
            od_rate = n / net
            py_rate = n / median(py_t)
            print(f"| {label} | {spread(gen_t)} | {spread(od_t)} | {spread(run_t)} | "
                  f"{od_rate:,.0f} | {spread(py_t)} | {py_rate:,.0f} | "
                  f"{od_rate / py_rate:.1f}x | {stored} |")
        print(f"\nA job running `true` (fixed cost of a command job, not subtracted above): "
              f"{spread(empty_t)} s.")

    # ---------------------------------------------------------------- 3. resume robustness
    def resume(self):
        a = self.args
        n, k = a.resume_trials, a.kills
        intervals = 3
        yml = self.write("resume.yml",
                         "type: sweep\ntrial:\n  command: |\n"
                         f"    for i in $(seq {intervals}); do sleep {0.2 / intervals:.3f}; "
                         "echo acc=${{search_space.x}}; done\n"
                         "sampling_algorithm: {type: random, seed: 5}\n"
                         "search_space:\n  x: {type: uniform, min_value: 0, max_value: 1}\n"
                         "objective: {goal: maximize, primary_metric: acc}\n"
                         f"limits: {{max_total_trials: {n}, max_concurrent_trials: 2}}\n")
        print(f"\n### Resume: kill -9 of the controller at random moments ({n} trials of ~0.2 s, "
              f"2 at a time, {intervals} `acc` points each; `job resume` after every kill)\n")
        print("| round | kill points tried | landed on a live controller | trials | final "
              "(completed) | trials lost | duplicated params | wrong metric counts | "
              "resume failures | status | wall s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        rng = random.Random(a.seed)
        totals = [0, 0, 0, 0, 0, 0]
        for rnd in range(a.rounds):
            ws = self.workspace()
            t0 = time.perf_counter()
            p = subprocess.run(self.od_cmd(ws, "job", "submit", yml, "--detach", "--json"),
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"detached submit failed: {p.stderr}")
            sub = json.loads(p.stdout)
            sid, pid = sub["id"], sub["controller_pid"]
            proc = None  # the current `job resume`, once there is one
            landed, failures, delays = 0, 0, []
            errlog = open(os.path.join(self.root, f"resume{rnd}.err"), "w")
            for i in range(k):
                d = rng.uniform(a.kill_min, a.kill_max)
                delays.append(d)
                time.sleep(d)
                if proc is None:
                    alive = pid_alive(pid)
                    if alive:
                        os.kill(pid, signal.SIGKILL)
                else:
                    alive = proc.poll() is None
                    if alive:
                        proc.kill()
                    rc = proc.wait()
                    if not alive and rc != 0:
                        failures += 1
                landed += alive
                proc = subprocess.Popen(self.od_cmd(ws, "job", "resume", sid),
                                        stdout=subprocess.DEVNULL, stderr=errlog)
            try:
                rc = proc.wait(timeout=a.resume_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "timeout"
            if rc != 0:
                failures += 1
            wall = time.perf_counter() - t0
            errlog.close()
            sweep = self.od_json(ws, "job", "show", sid)
            trials = sweep["trials"]
            final = sum(1 for t in trials if t["status"] == "completed")
            params = {json.dumps(t["params"], sort_keys=True) for t in trials}
            dup = len(trials) - len(params)
            lost = n - final
            bad_metrics = sum(1 for t in trials
                              if t["metrics"].get("acc", {}).get("count") != intervals)
            log(f"resume round {rnd + 1}: kills at +{', +'.join(f'{d:.2f}' for d in delays)} s; "
                f"statuses {sorted({t['status'] for t in trials})}")
            for v, idx in ((k, 0), (landed, 1), (lost, 2), (dup, 3), (bad_metrics, 4),
                           (failures, 5)):
                totals[idx] += v
            print(f"| {rnd + 1} | {k} | {landed} | {len(trials)} | {final} | {lost} | {dup} | "
                  f"{bad_metrics} | {failures} | {sweep['status']} | {wall:.1f} |")
            shutil.rmtree(ws)
        print(f"| **all** | {totals[0]} | {totals[1]} | | | {totals[2]} | {totals[3]} | "
              f"{totals[4]} | {totals[5]} | | |")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; the detached controller is not our child, so it is reaped
    # by init and a zombie is brief, but check the state anyway.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# The naive baseline: read the whole file, parse each line, one executemany in one transaction,
# into a table and index shaped like Overdrive's own metrics table, WAL + synchronous=NORMAL.
NAIVE_INGEST = r'''
import json, os, re, sqlite3, sys, time
kind, path, db = sys.argv[1:4]
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.remove(db + suffix)
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode = WAL")
con.execute("PRAGMA synchronous = NORMAL")
con.execute("CREATE TABLE metrics (run_id TEXT NOT NULL, name TEXT NOT NULL, "
            "step INTEGER NOT NULL, value REAL, timestamp REAL NOT NULL)")
con.execute("CREATE INDEX metrics_by_run_name_step ON metrics(run_id, name, step)")
now = time.time()
rows = []
with open(path) as f:
    text = f.read()
if kind == "kv":
    pattern = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
    steps = {}
    for line in text.splitlines():
        for m in pattern.finditer(line):
            name = m.group(1)
            step = steps.get(name, 0)
            steps[name] = step + 1
            rows.append(("run", name, step, float(m.group(2)), now))
else:
    for line in text.splitlines():
        d = json.loads(line)
        rows.append(("run", d["name"], d["step"], float(d["value"]), now))
with con:
    con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
print(con.execute("SELECT count(*) FROM metrics").fetchone()[0])
con.close()
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--overdrive", required=True, help="the overdrive binary (Release)")
    ap.add_argument("--python", default="/usr/bin/python3", help="python for the baselines")
    ap.add_argument("--sections", default="true,ingest,resume")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--trials", default="500,1000", help="sizes of the `true` sweeps")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--resume-trials", type=int, default=40)
    ap.add_argument("--kills", type=int, default=8, help="kill points per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kill-min", type=float, default=0.15, help="seconds between kills, min")
    ap.add_argument("--kill-max", type=float, default=0.9, help="seconds between kills, max")
    ap.add_argument("--resume-timeout", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    a = ap.parse_args()
    a.trials = [int(x) for x in a.trials.split(",") if x]
    sections = set(a.sections.split(","))
    b = Bench(a)
    try:
        log(f"workspaces under {b.root}")
        if "true" in sections:
            b.runs_of_true()
        if "ingest" in sections:
            b.ingestion()
        if "resume" in sections:
            b.resume()
    finally:
        if not a.keep:
            shutil.rmtree(b.root, ignore_errors=True)


if __name__ == "__main__":
    main()
