#!/usr/bin/python3
"""Slurm benchmarks of the overdrive binary on a real (local one-node) Slurm cluster.

1. overhead: a sweep of N trials of `true` on a Slurm compute target at the cluster's
   concurrency, beside a minimal driver that keeps the same number of plain `sbatch --wrap` jobs
   in flight and watches for their end. Per trial: Slurm's own latency (sbatch returned -> the
   job started, a timestamp the job writes), Overdrive's (the trial stored -> its batch script
   started), and the idle gap of a slot between one job's end and the next one's start.
2. poll cost: sweeps of 20 and 100 concurrent long-sleeping trials (all in flight: a few
   running, the rest pending in Slurm's queue); every sbatch/squeue/scontrol/scancel the
   controller runs is counted by wrapper scripts first on PATH, over a steady-state window.
3. utilisation: a sweep of 40 trials sleeping 1-10 s (uniform, fixed seed), two at a time, on the
   local executor and on Slurm: busy slot-seconds (sum of trial run times) / available
   slot-seconds (2 x the sweep's wall time), beside the ideal list schedule of the same trials.

Prints markdown tables on stdout, progress on stderr. Workspaces live under one temp folder that
is removed at the end; every Slurm job this script submitted is canceled on the way out.
Run with Debian's /usr/bin/python3 (see bench/run_slurm_bench.sh).
"""
import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def ms(x):
    return f"{x * 1000:.0f}"


def slot_gaps(starts, ends, slots):
    """Idle time of a slot before each job that waited for one: with `slots` jobs at a time, the
    k-th start (k >= slots, in start order) follows the (k - slots)-th end (in end order)."""
    starts, ends = sorted(starts), sorted(ends)
    return [starts[k] - ends[k - slots] for k in range(slots, len(starts))]


def list_schedule(durations, slots):
    """Makespan of running `durations` in order on `slots` slots with zero overhead."""
    free = [0.0] * slots
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


class ForeignJobs:
    """Watches Slurm's queue (once a second) for jobs whose working directory is not under our
    temp folder: other users' jobs share the node's CPUs and skew a measurement."""

    def __init__(self, root):
        self.root = root
        self.seen = set()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            p = subprocess.run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%i|%j|%Z"],
                               capture_output=True, text=True)
            for line in p.stdout.splitlines():
                parts = line.split("|", 2)
                if len(parts) == 3 and not parts[2].startswith(self.root):
                    self.seen.add(f"{parts[0]} {parts[1]}")
            self._stop.wait(1.0)

    def note(self):
        return f" ⚠ {len(self.seen)} other jobs ran meanwhile" if self.seen else ""


class Bench:
    def __init__(self, args):
        self.a = args
        self.od = os.path.abspath(args.overdrive)
        # The run folders must be visible to the compute node: here the node is this machine.
        self.root = tempfile.mkdtemp(prefix="overdrive-slurm-bench-", dir=args.tmp)
        os.chmod(self.root, 0o755)
        self.counter = 0
        self.slurm_jobs = set()  # ids of plain sbatch jobs to cancel on exit
        self.workspaces = []
        self.detached = []  # (workspace, sweep id) of background controllers to cancel on exit

    # ------------------------------------------------------------------ helpers
    def workspace(self):
        self.counter += 1
        ws = os.path.join(self.root, f"ws{self.counter}")
        self.workspaces.append(ws)
        return ws

    def od_cmd(self, ws, *argv):
        return [self.od, "--workspace", ws, *argv]

    def od_json(self, ws, *argv, env=None):
        p = subprocess.run(self.od_cmd(ws, *argv, "--json"), capture_output=True, text=True,
                           env=env)
        if p.returncode != 0:
            raise RuntimeError(f"overdrive {' '.join(argv)} failed ({p.returncode}): {p.stderr}")
        return json.loads(p.stdout)

    def write(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def add_target(self, ws, name, partition, env=None, extra=()):
        p = subprocess.run(self.od_cmd(ws, "compute", "add", name, "--type", "slurm",
                                       "--partition", partition,
                                       "--poll-interval", str(self.a.poll_interval), *extra),
                           capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise RuntimeError(f"compute add failed: {p.stderr}")

    def sweep_yaml(self, name, command, n, concurrent, compute, space=None, seed=1):
        space = space or "  x: {type: uniform, min_value: 0, max_value: 1}\n"
        return self.write(name,
                          "type: sweep\n"
                          f"compute: {compute}\n"
                          "trial:\n  command: " + json.dumps(command) + "\n"
                          f"sampling_algorithm: {{type: random, seed: {seed}}}\n"
                          "search_space:\n" + space +
                          "objective: {goal: maximize, primary_metric: acc}\n"
                          f"limits: {{max_total_trials: {n}, max_concurrent_trials: {concurrent}}}\n")

    def trial_times(self, ws, sweep_id):
        """The sweep, and [(trial id, created_at, started_at, ended_at, params, status)] from the
        store and the trials' exit records."""
        sweep = self.od_json(ws, "job", "show", sweep_id)
        out = []
        for t in sweep["trials"]:
            run = self.od_json(ws, "job", "show", t["id"])
            started, ended = run.get("started_at"), run.get("ended_at")
            exit_path = os.path.join(run["run_dir"], "exit.json")
            if os.path.exists(exit_path):  # the timestamps the batch script / shim wrote
                with open(exit_path) as f:
                    rec = json.load(f)
                started, ended = rec.get("started_at", started), rec.get("ended_at", ended)
            out.append((t["id"], run["created_at"], started, ended, t["params"], t["status"]))
        return sweep, out

    def foreign_jobs(self):
        p = subprocess.run(["squeue", "-h", "-o", "%i %j %u"], capture_output=True, text=True)
        return [line for line in p.stdout.splitlines() if line.strip()]

    def cancel_workspace_jobs(self, ws):
        ids = []
        for handle in glob.glob(os.path.join(ws, "runs", "*", "slurm_job.json")):
            try:
                with open(handle) as f:
                    ids.append(str(json.load(f)["slurm_job_id"]))
            except (OSError, ValueError, KeyError):
                pass
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True)

    def submit_foreground(self, ws, yml, env=None):
        """`job submit --json` in the foreground; a Ctrl-C of the bench cancels it (cleanup sends
        it one SIGINT: its own session keeps the terminal's from counting as a second)."""
        proc = subprocess.Popen(self.od_cmd(ws, "job", "submit", yml, "--json"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)
        self.foreground = proc
        out, err = proc.communicate()
        self.foreground = None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def cleanup(self):
        proc = getattr(self, "foreground", None)
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # cancels the job: its trials are scanceled
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ws, sweep_id in self.detached:
            subprocess.run(self.od_cmd(ws, "job", "cancel", sweep_id), capture_output=True)
        if self.slurm_jobs:
            subprocess.run(["scancel", *sorted(self.slurm_jobs)], capture_output=True)
        for ws in self.workspaces:
            if os.path.isdir(ws):
                self.cancel_workspace_jobs(ws)

    # ------------------------------------------------------------------ 1. overhead
    def baseline_driver(self, n, slots):
        """Plain sbatch --wrap jobs, `slots` in flight; the next is submitted as soon as a job
        has written its end timestamp (watched every 2 ms: an ideal controller)."""
        d = os.path.join(self.root, "baseline")
        os.makedirs(d, exist_ok=True)
        t0 = time.time()
        submitted, returned = {}, {}
        in_flight = []
        nxt = 0
        done = 0
        while done < n:
            while len(in_flight) < slots and nxt < n:
                i = nxt
                nxt += 1
                s, e = os.path.join(d, f"s{i}"), os.path.join(d, f"e{i}")
                wrap = (f"date +%s.%N > {s}; true; "
                        f"date +%s.%N > {e}.tmp && mv {e}.tmp {e}")
                submitted[i] = time.time()
                p = subprocess.run(["sbatch", "--parsable", "-p", self.a.partition, "-c", "1",
                                    "-J", "od-bench-baseline", "-o", "/dev/null",
                                    f"--chdir={d}",
                                    "--wrap", wrap], capture_output=True, text=True)
                returned[i] = time.time()
                if p.returncode != 0:
                    raise RuntimeError(f"sbatch failed: {p.stderr}")
                self.slurm_jobs.add(p.stdout.strip().split(";")[0])
                in_flight.append(i)
            for i in list(in_flight):
                if os.path.exists(os.path.join(d, f"e{i}")):
                    in_flight.remove(i)
                    done += 1
            time.sleep(0.002)
        wall = time.time() - t0
        starts, ends, latency = [], [], []
        for i in range(n):
            with open(os.path.join(d, f"s{i}")) as f:
                start = float(f.read())
            with open(os.path.join(d, f"e{i}")) as f:
                end = float(f.read())
            starts.append(start)
            ends.append(end)
            latency.append(start - returned[i])
        sbatch_call = [returned[i] - submitted[i] for i in range(n)]
        react = slot_gaps([submitted[i] for i in range(n)], ends, slots)
        span = max(ends) - submitted[0]  # first sbatch -> last job's end
        shutil.rmtree(d)
        return wall, latency, sbatch_call, slot_gaps(starts, ends, slots), react, span

    def overhead(self):
        a = self.a
        n, slots = a.trials, a.slots
        print(f"\n### Per-trial overhead on Slurm: {n} trials of `true`, {slots} at a time "
              f"(partition `{a.partition}`, poll interval {a.poll_interval:g} s; "
              f"median (p10–p90) over trials, ms; {a.reps} rep(s))\n")
        print("| rep | driver | end-to-end wall s | first submit → last end s | start-up / finish s | "
              "per trial ms ((first submit → last end) × slots / N) | "
              "a job's end → the next submitted ms | submit → start ms | "
              "slot idle between trials (end → next start) ms |")
        print("|---|---|---|---|---|---|---|---|---|")
        summary = []
        for rep in range(a.reps):
            with ForeignJobs(self.root) as fb:
                wall_b, lat_b, sb_call, gap_b, react_b, span_b = self.baseline_driver(n, slots)
            log(f"overhead rep {rep + 1}: plain sbatch driver {wall_b:.1f}s")
            ws = self.workspace()
            self.add_target(ws, "bench-slurm", a.partition)
            yml = self.sweep_yaml(f"true{n}.yml", "true", n, slots, "azureml:bench-slurm")
            with ForeignJobs(self.root) as fo:
                t0 = time.time()
                p = self.submit_foreground(ws, yml)
                wall_o = time.time() - t0
            if p.returncode != 0:
                raise RuntimeError(f"sweep of {n} `true` on Slurm failed: {p.stderr[-2000:]}")
            sweep, trials = self.trial_times(ws, json.loads(p.stdout)["id"])
            done = sum(1 for t in trials if t[5] == "completed")
            if done != n:
                raise RuntimeError(f"{done} of {n} trials completed")
            log(f"overhead rep {rep + 1}: overdrive sweep {wall_o:.1f}s")
            lat_o = [t[2] - t[1] for t in trials]
            gap_o = slot_gaps([t[2] for t in trials], [t[3] for t in trials], slots)
            # The trial is stored just before its sbatch: the controller's own reaction time.
            react_o = slot_gaps([t[1] for t in trials], [t[3] for t in trials], slots)
            # The sweep's steady part (first trial stored -> last trial's end) and what the
            # command does once, before it (start-up, snapshot, sweep record) and after it.
            first, last = min(t[1] for t in trials), max(t[3] for t in trials)
            span_o = last - first
            fixed_o = f"{first - t0:.2f} / {t0 + wall_o - last:.2f}"

            def row(name, wall, span, fixed, react, lat, gap, watch):
                print(f"| {rep + 1} | {name}{watch.note()} | {wall:.1f} | {span:.1f} | {fixed} | "
                      f"{ms(span * slots / n)} | "
                      f"{ms(median(react))} ({ms(pct(react, .1))}–{ms(pct(react, .9))}) | "
                      f"{ms(median(lat))} ({ms(pct(lat, .1))}–{ms(pct(lat, .9))}) | "
                      f"{ms(median(gap))} ({ms(pct(gap, .1))}–{ms(pct(gap, .9))}) |")

            row("plain `sbatch --wrap` (Slurm alone)", wall_b, span_b, "0 / 0", react_b, lat_b,
                gap_b, fb)
            row("overdrive sweep", wall_o, span_o, fixed_o, react_o, lat_o, gap_o, fo)
            summary.append(((span_o - span_b) * slots / n, median(lat_o) - median(lat_b),
                            median(gap_o) - median(gap_b), median(sb_call),
                            bool(fb.seen or fo.seen), median(react_o) - median(react_b),
                            (wall_o - wall_b) * slots / n))
            shutil.rmtree(ws, ignore_errors=True)
        disturbed = sum(1 for s in summary if s[4])
        reps_note = f"{len(summary)} rep(s)"
        if 0 < disturbed < len(summary):  # other users' jobs took slots: leave those reps out
            summary = [s for s in summary if not s[4]]
            reps_note = f"{len(summary)} rep(s) without other jobs on the node, {disturbed} left out"
        elif disturbed:
            reps_note += ", other jobs shared the node in every rep"
        w = median([s[0] for s in summary])
        lat = median([s[1] for s in summary])
        gap = median([s[2] for s in summary])
        react = median([s[5] for s in summary])
        whole = median([s[6] for s in summary])
        print(f"\nOverdrive's overhead per trial beyond Slurm's own (median over {reps_note}): "
              f"**{ms(w)} ms** from the first submission to the last trial's end (difference of "
              f"those spans × {slots} / {n}; {ms(whole)} ms with the command's one-off start-up "
              f"and finish included), "
              f"{ms(lat)} ms on submit → start, {ms(gap)} ms of slot idle time between trials "
              f"(goal: under 50 ms). Overdrive reacts {ms(react)} ms later than the ideal driver "
              "to a trial's end (detecting it, recording it, choosing and storing the next "
              "trial); where that is less than Slurm's own time to release the ended job's CPU "
              "and start the next job, it costs no wall time. One `sbatch` call takes "
              f"{ms(median([s[3] for s in summary]))} ms here.")

    # ------------------------------------------------------------------ 2. poll cost
    def wrappers(self, logfile):
        bindir = os.path.join(self.root, "slurm-wrappers")
        os.makedirs(bindir, exist_ok=True)
        for name in ("sbatch", "squeue", "scontrol", "scancel"):
            real = shutil.which(name)
            if not real:
                raise RuntimeError(f"{name} not found: is Slurm installed (scripts/slurm.sh start)?")
            path = os.path.join(bindir, name)
            with open(path, "w") as f:
                f.write("#!/bin/bash\n"
                        f"echo \"$EPOCHREALTIME {name}\" >> {logfile}\n"
                        f"exec {real} \"$@\"\n")
            os.chmod(path, 0o755)
        return bindir

    @staticmethod
    def cpu_seconds(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    @staticmethod
    def slurmctld_pid():
        try:
            with open("/run/slurmctld.pid") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return -1

    def poll_cost(self):
        a = self.a
        held = ("submitted with `--hold`: all pending in Slurm's queue" if a.poll_hold
                else "queued normally: as many running as the node has CPUs, the rest pending")
        print(f"\n### Controller poll cost with every trial in flight ({held}; partition "
              f"`{a.poll_partition}`, poll interval {a.poll_interval:g} s, counted over "
              f"{a.window:g} s of steady state by wrappers of the Slurm commands on PATH)\n")
        print("| trials in flight | running / pending | sbatch (all) | squeue per min | "
              "scontrol per min | scancel per min | Slurm commands per min | controller CPU % | "
              "slurmctld CPU % |")
        print("|---|---|---|---|---|---|---|---|---|")
        per_min = {}
        for n in a.poll_sizes:
            logfile = os.path.join(self.root, f"calls{n}.log")
            bindir = self.wrappers(logfile)
            env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
            ws = self.workspace()
            # Held jobs stay PENDING (reason JobHeldUser) without taking CPUs or places in the
            # queue from other users' jobs; squeue reports them like any queued job.
            self.add_target(ws, "bench-poll", a.poll_partition, env,
                            ["--sbatch-arg=--hold"] if a.poll_hold else [])
            yml = self.sweep_yaml(f"sleep{n}.yml", f"sleep {a.sleep}", n, n,
                                  "azureml:bench-poll")
            sub = self.od_json(ws, "job", "submit", yml, "--detach", env=env)
            sweep_id, pid = sub["id"], sub["controller_pid"]
            self.detached.append((ws, sweep_id))

            def calls():
                if not os.path.exists(logfile):
                    return []
                with open(logfile) as f:
                    return [(float(t), name) for t, name in
                            (line.split() for line in f if line.strip())]

            deadline = time.time() + 120 + n
            while sum(1 for _, c in calls() if c == "sbatch") < n:
                if time.time() > deadline:
                    raise RuntimeError(f"the controller submitted only "
                                       f"{sum(1 for _, c in calls() if c == 'sbatch')} of {n}")
                time.sleep(0.2)
            time.sleep(3)  # past the submissions: steady state
            ctld = self.slurmctld_pid()
            t0, cpu0, ctld0 = time.time(), self.cpu_seconds(pid), self.cpu_seconds(ctld)
            time.sleep(a.window)
            t1, cpu1, ctld1 = time.time(), self.cpu_seconds(pid), self.cpu_seconds(ctld)
            q = subprocess.run(["squeue", "-h", "-n", ",".join(
                f"od-{os.path.basename(os.path.dirname(h))}"
                for h in glob.glob(os.path.join(ws, "runs", "*", "slurm_job.json"))),
                "-o", "%T"], capture_output=True, text=True).stdout.split()
            running, pending = q.count("RUNNING"), q.count("PENDING")
            window = [c for t, c in calls() if t0 <= t <= t1]
            scale = 60.0 / (t1 - t0)
            counts = {c: window.count(c) * scale for c in ("squeue", "scontrol", "scancel",
                                                           "sbatch")}
            total = sum(counts.values())
            per_min[n] = total
            sbatch_all = sum(1 for _, c in calls() if c == "sbatch")
            print(f"| {n} | {running} / {pending} | {sbatch_all} | {counts['squeue']:.0f} | "
                  f"{counts['scontrol']:.0f} | {counts['scancel']:.0f} | {total:.0f} | "
                  f"{(cpu1 - cpu0) / (t1 - t0) * 100:.1f} | "
                  f"{(ctld1 - ctld0) / (t1 - t0) * 100:.1f} |")
            log(f"poll cost {n}: {total:.0f} Slurm commands/min; canceling the sweep")
            subprocess.run(self.od_cmd(ws, "job", "cancel", sweep_id), capture_output=True,
                           env=env)
            end = time.time() + 120
            while time.time() < end:
                st = self.od_json(ws, "job", "show", sweep_id)["status"]
                if st not in ("queued", "starting", "running"):
                    break
                time.sleep(0.5)
            self.cancel_workspace_jobs(ws)
            shutil.rmtree(ws, ignore_errors=True)
            os.remove(logfile)
        if len(per_min) >= 2:
            lo, hi = min(per_min), max(per_min)
            print(f"\nSlurm commands per minute: {per_min[lo]:.0f} with {lo} trials in flight, "
                  f"{per_min[hi]:.0f} with {hi} ({per_min[hi] / max(per_min[lo], 1e-9):.2f}x for "
                  f"{hi / lo:.0f}x the trials; goal: independent of the trial count).")

    # ------------------------------------------------------------------ 3. utilisation
    def utilisation(self):
        a = self.a
        n, slots = a.util_trials, a.slots
        space = "  t: {type: uniform, min_value: 1, max_value: 10}\n"
        print(f"\n### Utilisation: {n} trials sleeping U(1, 10) s (random, seed {a.seed}), "
              f"{slots} at a time\n")
        print("| executor | sweep wall s | busy slot-s (sum of trial run times) | "
              f"available slot-s ({slots} × wall) | utilisation | slot idle between trials ms | "
              "ideal list schedule wall s | ideal utilisation |")
        print("|---|---|---|---|---|---|---|---|")
        for executor in a.util_executors:
            ws = self.workspace()
            if executor == "slurm":
                self.add_target(ws, "bench-util", a.partition)
                compute = "azureml:bench-util"
            else:
                compute = "local"
            yml = self.sweep_yaml(f"util_{executor}.yml", "sleep ${{search_space.t}}", n, slots,
                                  compute, space=space, seed=a.seed)
            env = dict(os.environ, OVERDRIVE_CPUS=str(slots))
            with ForeignJobs(self.root) as watch:
                t0 = time.time()
                p = self.submit_foreground(ws, yml, env)
                wall = time.time() - t0
            if p.returncode != 0:
                raise RuntimeError(f"utilisation sweep ({executor}) failed: {p.stderr[-2000:]}")
            sweep, trials = self.trial_times(ws, json.loads(p.stdout)["id"])
            done = sum(1 for t in trials if t[5] == "completed")
            if done != n:
                raise RuntimeError(f"{executor}: {done} of {n} trials completed")
            busy = sum(t[3] - t[2] for t in trials)
            # The ideal: the same sleeps, in the order the trials were created, zero overhead.
            ordered = [float(t[4]["t"]) for t in sorted(trials, key=lambda t: t[1])]
            ideal = list_schedule(ordered, slots)
            gap = slot_gaps([t[2] for t in trials], [t[3] for t in trials], slots)
            note = watch.note()
            print(f"| {executor}{note} | {wall:.1f} | {busy:.1f} | {slots * wall:.1f} | "
                  f"**{busy / (slots * wall) * 100:.1f}%** | "
                  f"{ms(median(gap))} ({ms(pct(gap, .1))}–{ms(pct(gap, .9))}) | {ideal:.1f} | "
                  f"{sum(ordered) / (slots * ideal) * 100:.1f}% |")
            log(f"utilisation {executor}: {busy / (slots * wall) * 100:.1f}%")
            shutil.rmtree(ws, ignore_errors=True)
        print("\nGoal: over 95% on the local executor. The ideal column is the same trials run "
              "back to back in creation order with no overhead at all (the last trials leave a "
              "slot idle at the end).")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--overdrive", required=True, help="the overdrive binary (Release)")
    ap.add_argument("--sections", default="overhead,poll,util")
    ap.add_argument("--partition", default="debug", help="partition of sections 1 and 3")
    ap.add_argument("--poll-partition", default="low",
                    help="partition of section 2 (preemptible: other users' jobs go first)")
    ap.add_argument("--poll-interval", type=float, default=1.0,
                    help="the compute targets' --poll-interval (Overdrive's default: 1 s)")
    ap.add_argument("--slots", type=int, default=2, help="trials at a time (the cluster's CPUs)")
    ap.add_argument("--trials", type=int, default=100, help="trials of `true` in section 1")
    ap.add_argument("--reps", type=int, default=1, help="repetitions of section 1")
    ap.add_argument("--poll-sizes", default="20,100", help="trials in flight in section 2")
    ap.add_argument("--window", type=float, default=60, help="seconds counted in section 2")
    ap.add_argument("--sleep", type=int, default=3600, help="trial length in section 2")
    ap.add_argument("--poll-hold", type=int, default=1,
                    help="1: section 2's trials are submitted held (pending, taking nothing from "
                         "other users of the cluster); 0: they queue and run normally")
    ap.add_argument("--util-trials", type=int, default=40)
    ap.add_argument("--util-executors", default="local,slurm")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tmp", default=None, help="where the temp folder goes (shared with the nodes)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    a = ap.parse_args()
    a.poll_sizes = [int(x) for x in a.poll_sizes.split(",") if x]
    a.util_executors = [x for x in a.util_executors.split(",") if x]
    sections = set(a.sections.split(","))
    # Ctrl-C and kill end in the cleanup below (Slurm jobs canceled, temp folder removed), also
    # when started in the background, where SIGINT would otherwise be ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    b = Bench(a)
    try:
        log(f"workspaces under {b.root}")
        others = b.foreign_jobs()
        if others:
            log(f"warning: {len(others)} other job(s) in Slurm's queue; they share the node and "
                f"skew the numbers:\n  " + "\n  ".join(others[:10]))
        if "overhead" in sections:
            b.overhead()
        if "poll" in sections:
            b.poll_cost()
        if "util" in sections:
            b.utilisation()
    finally:
        b.cleanup()
        if not a.keep:
            shutil.rmtree(b.root, ignore_errors=True)


if __name__ == "__main__":
    main()
