"""Serving throughput and latency: one XGBoost model behind three HTTP servers, loaded by wrk.

Driver (run by bench/run_serving_bench.sh with Debian's /usr/bin/python3):
    serving_bench.py --overdrive BIN --workdir DIR --duration 10 --connections 1,16
Paths:
  native    `overdrive serve --path DIR` on a folder holding only model.json: scored in-process
            through libxgboost's C API
  script    `overdrive serve --path DIR --workers 2` on a folder with score.py (init()/run()) doing
            the same predict with xgboost's Python package in 2 worker processes
  python    bench/serving/baseline_server.py: http.server's ThreadingHTTPServer, same predict
Each server gets the same POST /score body ({"data": [ROWS rows of 64 numbers]}); its answer is
checked against the model's own prediction before the load starts. wrk runs a 2 s warm-up, then
DURATION seconds per connection count (1 thread for 1 connection, 2 threads otherwise). The pids
of the servers are written to WORKDIR/pids (the shell script's trap kills them if we die).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = {
    "native": "overdrive serve, native XGBoost (C API)",
    "script": "overdrive serve, score.py (2 Python workers)",
    "python": "Python ThreadingHTTPServer + xgboost",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(workdir, rows):
    import xgboost as xgb
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 10, "tree_method": "hist",
                         "max_depth": 4, "eta": 0.2, "nthread": 2, "seed": 0},
                        xgb.DMatrix(X, label=y), 50)
    native = os.path.join(workdir, "native")
    script = os.path.join(workdir, "script")
    os.makedirs(native)
    os.makedirs(script)
    booster.save_model(os.path.join(native, "model.json"))
    shutil.copy(os.path.join(native, "model.json"), script)
    shutil.copy(os.path.join(HERE, "serving", "score.py"), script)
    batch = X[:rows].astype(np.float32)
    body = json.dumps({"data": batch.tolist()})
    expected = booster.inplace_predict(batch)
    return native, script, body, expected


def wait_ready(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout} s")


def check_answer(port, body, expected):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/score", data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        got = np.asarray(json.loads(r.read())["predictions"], dtype=np.float64)
    if got.shape != expected.shape or not np.allclose(got, expected, atol=1e-5):
        raise RuntimeError(f"port {port}: predictions differ from the model's: {got[:1]} vs {expected[:1]}")


def parse_duration_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_wrk(port, lua, connections, duration):
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
                          "-s", lua, f"http://127.0.0.1:{port}/score"],
                         capture_output=True, text=True, check=True).stdout
    res = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        res[f"p{pct}"] = parse_duration_ms(re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M).group(1))
    res["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["errors"] = (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--overdrive", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="1,16")
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--paths", default="native,script,python")
    a = ap.parse_args()
    # TERM (from the shell script's trap) unwinds through the finally blocks: wrk is killed by
    # subprocess.run and the server stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    native, script, body, expected = train_model(a.workdir, a.rows)
    lua = os.path.join(a.workdir, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(body)}\n")
    conns = [int(c) for c in a.connections.split(",")]
    rows = []
    for path in [p for p in a.paths.split(",") if p]:
        port = free_port()
        if path == "native":
            cmd = [a.overdrive, "serve", "--path", native, "--port", str(port), "--workers", "2"]
        elif path == "script":
            cmd = [a.overdrive, "serve", "--path", script, "--port", str(port), "--workers", "2"]
        else:
            cmd = [sys.executable, os.path.join(HERE, "serving", "baseline_server.py"),
                   "--model", os.path.join(native, "model.json"), "--port", str(port)]
        log = open(os.path.join(a.workdir, f"{path}.log"), "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        with open(os.path.join(a.workdir, "pids"), "a") as f:
            f.write(f"{proc.pid}\n")
        try:
            wait_ready(port, proc)
            check_answer(port, body, expected)
            run_wrk(port, lua, max(conns), 2)  # warm-up
            for c in conns:
                r = run_wrk(port, lua, c, a.duration)
                rows.append((path, c, r))
                print(f"   {path} c={c}: {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, "
                      f"p99 {r['p99']:.2f} ms, errors {r['errors']}", file=sys.stderr)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()

    print(f"\n### One XGBoost model (digits, 50 rounds x 10 classes, depth 4), {a.rows} rows "
          f"per request, {len(body)} bytes; wrk {a.duration} s per row\n")
    print("| path | connections | req/s | p50 ms | p99 ms | requests | errors |")
    print("|---|---|---|---|---|---|---|")
    for path, c, r in rows:
        print(f"| {LABELS[path]} | {c} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{r['requests']:,} | {r['errors']} |")


if __name__ == "__main__":
    main()
