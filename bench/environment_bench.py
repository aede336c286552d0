#!/usr/bin/python3
"""Environments (issue 13): what a job's `environment:` costs, beside a run without one, measured
in the same run on the same machine.

1. time to first trial: from the moment `overdrive job submit` is started to the first line of the
   run's command (which prints `t0=$(date +%s.%N)` as a metric), for a command job with no
   environment (host), a venv of a small wheel, a venv of a realistic size (numpy in a venv that
   does not see the system's packages), a container image, and an image with a conda file (which
   this version may refuse; then the row says so). Cold: the first job in a fresh workspace (the
   environment is built); warm: a second job in the same workspace (found in the cache).
2. per-trial overhead in a cached environment: sweeps of N trials (one at a time) of `true` and
   of `python3 -c pass`, host vs venv vs container; wall per trial, each trial's run time
   (ended − started) and its launch latency (created → started), from the store.
3. a sweep of 20 trials, two at a time, of a small numpy training script: every trial builds its
   own venv (`python3 -m venv .venv && .venv/bin/pip install numpy... && .venv/bin/python
   train.py`) vs Overdrive's shared build (the sweep's `environment: {conda_file: ...}`), cold and
   warm, and the same script on the host's own numpy as the floor.

No package index is reachable: requirements come from wheels built here, found through pip's own
variables (PIP_FIND_LINKS, PIP_NO_INDEX, PIP_CONFIG_FILE=/dev/null). The realistic wheel is
Debian's numpy (python3-numpy, /usr/lib/python3/dist-packages/numpy) repacked as a wheel.

Markdown tables on stdout, progress on stderr. Everything lives under one temp folder, removed at
the end. Run with Debian's /usr/bin/python3 (see bench/run_environment_bench.sh).
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt="{:.3f}"):
    """'median (min–max)', or the value alone when there is one."""
    if not xs:
        return "–"
    if len(xs) == 1:
        return fmt.format(xs[0])
    return f"{fmt.format(median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


# ------------------------------------------------------------------------------ wheels
def make_wheel(outdir, name, version, files):
    """A py3-none-any wheel of (archive path, bytes) pairs, with METADATA, WHEEL and RECORD."""
    dist = f"{name}-{version}.dist-info"
    path = os.path.join(outdir, f"{name}-{version}-py3-none-any.whl")
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        def add(arc, data):
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arc},sha256={digest.decode()},{len(data)}")
        for arc, data in files:
            add(arc, data)
        add(f"{dist}/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode())
        add(f"{dist}/WHEEL", b"Wheel-Version: 1.0\nGenerator: overdrive-environment-bench\n"
                             b"Root-Is-Purelib: true\nTag: py3-none-any\n")
        record.append(f"{dist}/RECORD,,")
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


def tree_files(src, prefix):
    """Every regular file under src (no __pycache__), as (prefix/relative path, bytes)."""
    for d, dirs, files in os.walk(src):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            with open(p, "rb") as fh:
                yield os.path.join(prefix, os.path.relpath(p, src)), fh.read()


def system_numpy():
    """(version, package folder, files, MB) of Debian's numpy, or None."""
    p = subprocess.run([sys.executable, "-c",
                        "import numpy, os; print(numpy.__version__); "
                        "print(os.path.dirname(numpy.__file__))"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None
    version, folder = p.stdout.split()
    n = size = 0
    for _, data in tree_files(folder, "numpy"):
        n += 1
        size += len(data)
    return version, folder, n, size / 1e6


TRAIN_PY = """\
import argparse
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--learning-rate", type=float, default=0.1)
p.add_argument("--momentum", type=float, default=0.0)
a = p.parse_args()
rng = np.random.default_rng(0)
X = rng.normal(size=(256, 8))
y = X @ rng.normal(size=8) + 0.01 * rng.normal(size=256)
w = np.zeros(8)
v = np.zeros(8)
for step in range(50):
    grad = X.T @ (X @ w - y) / len(y)
    v = a.momentum * v - a.learning_rate * grad
    w += v
    loss = float(np.mean((X @ w - y) ** 2))
    if step % 10 == 9:
        print(f"loss={loss}")
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.binary = os.path.abspath(args.overdrive)
        self.root = tempfile.mkdtemp(prefix="overdrive-environment-bench-")
        self.counter = 0
        self.unavailable = {}  # environment key -> "refused: why" / "failed: why"
        wheels = os.path.join(self.root, "wheels")
        os.makedirs(wheels)
        # pip sees the wheelhouse only through its own variables; no index, no user config.
        # PATH without pyenv's shims: `python3` in a host run is Debian's /usr/bin/python3, the
        # interpreter the venvs are made from, so host and venv rows run the same Python.
        path = [p for p in os.environ.get("PATH", "").split(":") if p and ".pyenv" not in p]
        self.env = dict(os.environ, PIP_CONFIG_FILE="/dev/null", PIP_NO_INDEX="1",
                        PIP_FIND_LINKS=wheels, PIP_DISABLE_PIP_VERSION_CHECK="1",
                        PATH=":".join(path))
        for k in ("VIRTUAL_ENV", "PYTHONHOME", "PYENV_VERSION", "OVERDRIVE_WORKSPACE",
                  "PYTHONDONTWRITEBYTECODE"):  # set on this box; users rarely have it
            self.env.pop(k, None)
        pyver = f"{sys.version_info.major}.{sys.version_info.minor}"
        t = time.perf_counter()
        make_wheel(wheels, "odbenchpkg", "0.1", [("odbenchpkg.py", b"VALUE = 0.75\n")])
        self.write("tiny.yml", "name: tiny\ndependencies:\n"
                               f"  - python={pyver}\n  - pip:\n    - odbenchpkg==0.1\n")
        self.numpy = system_numpy()
        if self.numpy:
            version, folder, n, mb = self.numpy
            make_wheel(wheels, "numpy", version, tree_files(folder, "numpy"))
            major_minor = ".".join(version.split(".")[:2])
            # conda's `numpy=1.24` becomes pip's `numpy==1.24.*`, found in the wheelhouse.
            self.write("numpy.yml", f"name: numpy\ndependencies:\n  - python={pyver}\n"
                                    f"  - numpy={major_minor}\n")
            self.numpy_req = f"numpy=={major_minor}.*"
            whl = [f for f in os.listdir(wheels) if f.startswith("numpy-")][0]
            log(f"wheels: odbenchpkg 0.1, numpy {version} repacked from {folder} ({n} files, "
                f"{mb:.0f} MB, wheel {os.path.getsize(os.path.join(wheels, whl)) / 1e6:.1f} MB) "
                f"in {time.perf_counter() - t:.1f} s")
        else:
            log("no Debian numpy (apt-get install python3-numpy): the numpy rows are skipped")
        os.makedirs(os.path.join(self.root, "src"))
        self.write("src/train.py", TRAIN_PY)

        # Environments: key -> (label, environment mapping lines or None, module to import).
        img = args.image
        self.envs = {
            "host": ("host (no environment)", None, "sys"),
            "venv": ("venv: one small wheel (system site packages, the default)",
                     ["conda_file: tiny.yml"], "odbenchpkg"),
        }
        if self.numpy:
            self.envs["venv-numpy"] = (
                f"venv: numpy {self.numpy[0]} ({self.numpy[3]:.0f} MB), no system site packages",
                ["conda_file: numpy.yml", "overdrive: {system_site_packages: false}"], "numpy")
        if not args.skip_container:
            self.envs["image"] = (f"container: image {img}", [f"image: {img}"], "sys")
            self.envs["image-conda"] = (f"container: image {img} + conda_file (small wheel)",
                                        [f"image: {img}", "conda_file: tiny.yml"], "odbenchpkg")

    # -------------------------------------------------------------------------- helpers
    def write(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def workspace(self):
        self.counter += 1
        return os.path.join(self.root, f"ws{self.counter}")

    def od(self, ws, *argv, **kw):
        return subprocess.run([self.binary, "--workspace", ws, *argv], env=self.env,
                              capture_output=True, text=True, **kw)

    def env_block(self, key, indent):
        lines = self.envs[key][1]
        if lines is None:
            return ""
        pad = " " * indent
        return f"{pad}environment:\n" + "".join(f"{pad}  {ln}\n" for ln in lines)

    def trials_of(self, ws, sweep_id):
        con = sqlite3.connect(os.path.join(ws, "overdrive.db"))
        try:
            return con.execute("SELECT created_at, started_at, ended_at, status FROM runs "
                               "WHERE parent_id = ? ORDER BY created_at", (sweep_id,)).fetchall()
        finally:
            con.close()

    @staticmethod
    def built_since(ws, job, t):
        """Whether the job's environment was built after t (its cache record says when)."""
        h = (job.get("environment") or {}).get("hash")
        if not h:
            return False
        try:
            with open(os.path.join(ws, "environments", h, "ready.json")) as f:
                return json.load(f)["built_at"] >= t
        except (OSError, ValueError, KeyError):
            return False

    @staticmethod
    def refusal(p):
        lines = [ln for ln in (p.stderr or "").strip().splitlines() if ln.strip()]
        line = lines[-1] if lines else f"exit code {p.returncode}"
        return line.removeprefix("overdrive: ")

    def reason(self, p):
        """The refusal's last line, its file named relative to the bench's temp folder."""
        return self.refusal(p).replace(self.root + "/", "")

    # ---------------------------------------------------------------- 1. time to first trial
    def first_job(self, ws, key):
        """Submits the 1-run job of `key` in ws; returns a dict of timings, or a refusal."""
        mod = self.envs[key][2]
        yml = os.path.join(self.root, f"first-{key}.yml")
        if not os.path.exists(yml):
            self.write(f"first-{key}.yml",
                       "command: echo t0=$(date +%s.%N) && python3 -c 'import " + mod +
                       ", sys; print(\"isolated=%d\" % (sys.prefix != sys.base_prefix))'\n" +
                       self.env_block(key, 0))
        t_sub = time.time()
        p = self.od(ws, "job", "submit", yml, "--json", timeout=900)
        wall = time.time() - t_sub
        if p.returncode != 0:
            # Refused at submit (nothing stored), or stored and failed (its build, say).
            jobs = self.od(ws, "job", "list", "--json")
            stored = jobs.returncode == 0 and json.loads(jobs.stdout or "[]")
            if not stored:
                return {"unavailable": "refused: " + self.reason(p)}
            shown = self.od(ws, "job", "show", stored[0]["id"], "--json")
            why = json.loads(shown.stdout).get("status_reason", "") if shown.returncode == 0 else ""
            why = why.strip().splitlines()[0] if why.strip() else self.reason(p)
            return {"unavailable": "failed: " + why.replace(self.root + "/", "")}
        j = json.loads(p.stdout)
        if j["status"] != "completed" or "t0" not in j["metrics"]:
            raise RuntimeError(f"{key}: job {j['id']} {j['status']}: {p.stderr[-1500:]}")
        isolated = j["metrics"].get("isolated", {}).get("last")
        # A venv, also the one an image + conda file gets (made by the image's Python).
        want = 0 if key in ("host", "image") else 1
        if isolated != want:
            raise RuntimeError(f"{key}: the run's Python is not where it should be "
                               f"(isolated={isolated}, want {want})")
        kind = (j.get("environment") or {}).get("kind")
        want_kind = {"host": None, "venv": "venv", "venv-numpy": "venv"}.get(key, "image")
        if kind != want_kind:
            raise RuntimeError(f"{key}: the run's environment kind is {kind}, not {want_kind}")
        return {"first": j["metrics"]["t0"]["last"] - t_sub, "start": j["started_at"] - t_sub,
                "wall": wall, "built": self.built_since(ws, j, t_sub)}

    def time_to_first(self):
        a = self.args
        keys = list(self.envs)
        res = {(k, c): [] for k in keys for c in ("cold", "warm")}
        for rep in range(a.runs):
            for key in keys:  # interleaved, so load changes hit every row alike
                if key in self.unavailable:
                    continue
                ws = self.workspace()
                for cache in ("cold", "warm"):
                    r = self.first_job(ws, key)
                    if "unavailable" in r:
                        self.unavailable[key] = r["unavailable"]
                        log(f"first trial, {key}: {r['unavailable']}")
                        break
                    if cache == "warm" and r["built"]:
                        raise RuntimeError(f"{key}: the second job built its environment again")
                    if cache == "cold" and key != "host" and not r["built"]:
                        raise RuntimeError(f"{key}: a fresh workspace found its environment built")
                    res[(key, cache)].append(r)
                    log(f"first trial rep {rep + 1}, {key} {cache}: {r['first']:.3f} s "
                        f"(job {r['wall']:.3f} s)")
                shutil.rmtree(ws, ignore_errors=True)

        print(f"\n### Time to first trial (s from `job submit` started to the run's first line; "
              f"median (min–max) of {a.runs})\n")
        print("| environment | cache | to the command's first line s | to the run's recorded "
              "start s | job submit wall s | ÷ host (same cache) | − host (same cache) s |")
        print("|---|---|---|---|---|---|---|")
        for key in keys:
            label = self.envs[key][0]
            if key in self.unavailable and not res[(key, "cold")]:
                print(f"| {label} | cold / warm | n/a ({self.unavailable[key]}) | | | | |")
                continue
            for cache in ("cold", "warm"):
                rows = res[(key, cache)]
                first = [r["first"] for r in rows]
                host = median([r["first"] for r in res[("host", cache)]])
                ratio = "1.0x" if key == "host" else f"{median(first) / host:.1f}x"
                diff = "" if key == "host" else f"{median(first) - host:+.3f}"
                print(f"| {label} | {cache} | {spread(first)} | "
                      f"{spread([r['start'] for r in rows])} | "
                      f"{spread([r['wall'] for r in rows])} | {ratio} | {diff} |")

    # ---------------------------------------------------------------- 2. per-trial overhead
    def overhead(self):
        a = self.args
        n = a.trials
        keys = [k for k in self.envs if k not in self.unavailable]
        wss = {}
        for key in keys:  # one workspace per environment, its cache warmed by a first job
            ws = self.workspace()
            r = self.first_job(ws, key)
            if "unavailable" in r:
                self.unavailable[key] = r["unavailable"]
                continue
            wss[key] = ws
        keys = list(wss)
        commands = {"true": "'true'", "python3 -c pass": "python3 -c pass"}
        res = {(k, c): [] for k in keys for c in commands}
        for rep in range(a.runs):
            for cname, cmd in commands.items():
                for key in keys:
                    ws = wss[key]
                    yml = self.write(f"over-{key}.yml",
                                     "type: sweep\n"
                                     "sampling_algorithm: {type: random, seed: 1}\n"
                                     "search_space:\n"
                                     "  x: {type: uniform, min_value: 0, max_value: 1}\n"
                                     "objective: {goal: maximize, primary_metric: acc}\n"
                                     f"limits: {{max_total_trials: {n}, "
                                     "max_concurrent_trials: 1}\n"
                                     f"trial:\n  command: {cmd}\n" + self.env_block(key, 2))
                    t = time.perf_counter()
                    p = self.od(ws, "job", "submit", yml, "--json", timeout=900)
                    wall = time.perf_counter() - t
                    if p.returncode != 0:
                        raise RuntimeError(f"{key} sweep of `{cname}` failed: {p.stderr[-1500:]}")
                    sid = json.loads(p.stdout)["id"]
                    trials = self.trials_of(ws, sid)
                    done = [tr for tr in trials if tr[3] == "completed"]
                    if len(done) != n:
                        raise RuntimeError(f"{key} sweep of `{cname}`: {len(done)} of {n} done")
                    res[(key, cname)].append({
                        "per_trial": wall / n,
                        "run": median([e - s for _, s, e, _ in done]),
                        "launch": median([s - c for c, s, _, _ in done]),
                    })
                    log(f"overhead rep {rep + 1}, {key} `{cname}`: {wall:.2f} s for {n}")
        for ws in wss.values():
            shutil.rmtree(ws, ignore_errors=True)

        print(f"\n### Per-trial cost in a cached environment ({n} trials one at a time; ms, "
              f"median (min–max) of {a.runs} sweeps; each sweep's figure is its own median)\n")
        print("| command | environment | sweep wall per trial | trial run time (ended − started) "
              "| launch (created → started) | per trial − host | run time − host |")
        print("|---|---|---|---|---|---|---|")
        ms = "{:.1f}"
        for cname in commands:
            host = res.get(("host", cname), [])
            for key in keys:
                rows = res[(key, cname)]
                per = [r["per_trial"] * 1e3 for r in rows]
                run = [r["run"] * 1e3 for r in rows]
                d_per = d_run = ""
                if key != "host" and host:
                    d_per = f"{median(per) - median([r['per_trial'] * 1e3 for r in host]):+.1f}"
                    d_run = f"{median(run) - median([r['run'] * 1e3 for r in host]):+.1f}"
                print(f"| `{cname}` | {self.envs[key][0]} | {spread(per, ms)} | {spread(run, ms)} "
                      f"| {spread([r['launch'] * 1e3 for r in rows], ms)} | {d_per} | {d_run} |")
        for key, why in self.unavailable.items():
            print(f"\n{self.envs[key][0]}: n/a ({why})")

    # ---------------------------------------------------------------- 3. a sweep of venvs
    def sweep_of_venvs(self):
        a = self.args
        n = a.sweep_trials
        if not self.numpy:
            print("\n### Sweep: per-trial venvs vs one shared build\n\nn/a: no Debian numpy to "
                  "repack as a wheel (apt-get install python3-numpy)")
            return
        train = ("train.py --learning-rate ${{search_space.learning_rate}} "
                 "--momentum ${{search_space.momentum}}")

        def sweep_yml(name, command, env_key):
            return self.write(name,
                              "type: sweep\n"
                              "sampling_algorithm: {type: random, seed: 1}\n"
                              "search_space:\n"
                              "  learning_rate: {type: uniform, min_value: 0.01, max_value: 0.3}\n"
                              "  momentum: {type: choice, values: [0.0, 0.5, 0.9]}\n"
                              "objective: {goal: minimize, primary_metric: loss}\n"
                              f"limits: {{max_total_trials: {n}, max_concurrent_trials: 2}}\n"
                              "trial:\n  code: src\n"
                              f"  command: {command}\n" +
                              (self.env_block(env_key, 2) if env_key else ""))

        naive = sweep_yml("sweep-naive.yml",
                          "/usr/bin/python3 -m venv .venv && .venv/bin/pip install -q "
                          f"'{self.numpy_req}' && .venv/bin/python {train}", None)
        shared = sweep_yml("sweep-shared.yml", f"python3 {train}", "venv-numpy")
        host = sweep_yml("sweep-host.yml", f"python3 {train}", None)

        def run(yml, ws):
            t_sub = time.time()
            t = time.perf_counter()
            p = self.od(ws, "job", "submit", yml, "--json", timeout=1800)
            wall = time.perf_counter() - t
            if p.returncode != 0:
                raise RuntimeError(f"{os.path.basename(yml)} failed: {p.stderr[-2000:]}")
            j = json.loads(p.stdout)
            trials = self.trials_of(ws, j["id"])
            done = [tr for tr in trials if tr[3] == "completed"]
            if len(done) != n:
                raise RuntimeError(f"{os.path.basename(yml)}: {len(done)} of {n} trials done")
            best = j.get("metrics", {}).get("loss", {}).get("min")
            return {"wall": wall, "run": median([e - s for _, s, e, _ in done]),
                    "busy": sum(e - s for _, s, e, _ in done), "best": best,
                    "built": self.built_since(ws, j, t_sub)}

        rows = {"host": [], "naive": [], "cold": [], "warm": []}
        for rep in range(a.sweep_reps):
            ws = self.workspace()
            rows["host"].append(run(host, ws))
            log(f"sweep rep {rep + 1}, host numpy: {rows['host'][-1]['wall']:.1f} s")
            rows["naive"].append(run(naive, ws))
            log(f"sweep rep {rep + 1}, a venv per trial: {rows['naive'][-1]['wall']:.1f} s")
            shutil.rmtree(ws, ignore_errors=True)
            ws = self.workspace()
            rows["cold"].append(run(shared, ws))
            log(f"sweep rep {rep + 1}, shared build, cold: {rows['cold'][-1]['wall']:.1f} s")
            rows["warm"].append(run(shared, ws))
            log(f"sweep rep {rep + 1}, shared build, warm: {rows['warm'][-1]['wall']:.1f} s")
            if not rows["cold"][-1]["built"] or rows["warm"][-1]["built"]:
                raise RuntimeError("the shared sweep should build once (cold) and not again (warm)")
            shutil.rmtree(ws, ignore_errors=True)

        print(f"\n### Sweep of {n} numpy trials, 2 at a time: a venv per trial vs one shared "
              f"build (s, median (min–max) of {a.sweep_reps})\n")
        print("| how | sweep wall s | trial run time s (median) | trial seconds (sum) | "
              "÷ shared build, cold | ÷ host numpy |")
        print("|---|---|---|---|---|---|")
        cold = median([r["wall"] for r in rows["cold"]])
        hostw = median([r["wall"] for r in rows["host"]])
        labels = {
            "naive": "each trial: `python3 -m venv .venv && .venv/bin/pip install "
                     f"'{self.numpy_req}'` then train",
            "cold": "Overdrive: `environment: {conda_file}`, built once (fresh workspace)",
            "warm": "Overdrive: the same sweep again (cached build)",
            "host": "host's own numpy, no environment (the floor)",
        }
        for key in ("naive", "cold", "warm", "host"):
            rs = rows[key]
            w = [r["wall"] for r in rs]
            print(f"| {labels[key]} | {spread(w, '{:.1f}')} | "
                  f"{spread([r['run'] for r in rs], '{:.2f}')} | "
                  f"{spread([r['busy'] for r in rs], '{:.1f}')} | {median(w) / cold:.2f}x | "
                  f"{median(w) / hostw:.2f}x |")
        naive = median([r["wall"] for r in rows["naive"]])
        print(f"\nA venv per trial takes {naive / cold:.1f}x the wall time of Overdrive's shared "
              f"build ({naive:.1f} s vs {cold:.1f} s, {naive - cold:+.1f} s).")

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


def cpu_seconds():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v[:8]) - idle) / tick, sum(v[:8]) / tick


def own_cpu_seconds():
    """CPU seconds of this script and the processes it waited for (overdrive, its shims, the
    runs, pip); podman's conmon is not among them (it leaves its parent)."""
    import resource
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--overdrive", required=True)
    ap.add_argument("--runs", type=int, default=3, help="reps of sections 1 and 2")
    ap.add_argument("--trials", type=int, default=30, help="trials per sweep in section 2")
    ap.add_argument("--sweep-trials", type=int, default=20, help="trials of section 3's sweep")
    ap.add_argument("--sweep-reps", type=int, default=1, help="reps of section 3")
    ap.add_argument("--image", default="localhost/overdrive-base:latest")
    ap.add_argument("--skip-container", action="store_true")
    ap.add_argument("--sections", default="first,overhead,sweep")
    a = ap.parse_args()
    sections = a.sections.split(",")
    b = Bench(a)
    try:
        nproc = os.cpu_count()
        busy0, total0 = cpu_seconds()
        t0 = time.time()
        load = os.getloadavg()
        print(f"{nproc} cores, load average at the start {load[0]:.2f} / {load[1]:.2f} / "
              f"{load[2]:.2f} (1 / 5 / 15 min)")
        for name, fn in (("first", b.time_to_first), ("overhead", b.overhead),
                         ("sweep", b.sweep_of_venvs)):
            if name not in sections:
                continue
            t, (busy, _), own = time.time(), cpu_seconds(), own_cpu_seconds()
            fn()
            busy, own = cpu_seconds()[0] - busy, own_cpu_seconds() - own
            print(f"\n(this section: {time.time() - t:.0f} s; the machine's CPU busy {busy:.0f} s, "
                  f"this bench's processes {own:.0f} s, elsewhere ~{max(0.0, busy - own):.0f} s)")
        load = os.getloadavg()
        busy1, total1 = cpu_seconds()
        busy, own = busy1 - busy0, own_cpu_seconds()
        print(f"\nLoad average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}. In "
              f"{time.time() - t0:.0f} s the {nproc} cores were busy {busy:.0f} s of "
              f"{total1 - total0:.0f} s; this bench's own processes used {own:.0f} s, so about "
              f"{max(0.0, busy - own):.0f} CPU-s went elsewhere (other work on the machine, and "
              "podman's conmon/runc, which are not counted as ours).")
    finally:
        b.close()


if __name__ == "__main__":
    main()
