#!/usr/bin/python3
"""Optuna's figures beside Overdrive's (bench/sampler_quality.cpp): same functions, same budgets.

Quality: TPESampler, CmaEsSampler and RandomSampler, each run sequentially (study.optimize, one
trial at a time, in-memory storage) for --trials trials and --seeds seeds; best value after
50/100/200 trials as median and IQR.
Overhead: time of one TPE trial (suggest + tell, objective excluded: it is Hartmann6, microseconds)
with 1,000 completed trials in memory and in SQLite (a temp file), and 10,000 in memory, the
history made of random points evaluated on Hartmann6 (as the C++ harness does).

Output: one JSON object per line on stdout, the same shape as sampler_quality's.
Run with Debian's Python: /usr/bin/python3 bench/optuna_quality.py (needs python3-optuna,
and python3-cmaes for CmaEsSampler).
"""
import argparse
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time

import optuna

BUDGETS = [50, 100, 200]


def branin(x):
    a, b, c = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    u = x[1] - b * x[0] ** 2 + c * x[0] - r
    return a * u * u + s * (1 - t) * math.cos(x[0]) + s


_ALPHA = [1.0, 1.2, 3.0, 3.2]
_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
      [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        inner = sum(_A[i][j] * (x[j] - _P[i][j] * 1e-4) ** 2 for j in range(6))
        total += _ALPHA[i] * math.exp(-inner)
    return -total


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


# name -> (bounds per dimension, function, known optimum)
FUNCTIONS = {
    "branin": ([(-5.0, 10.0), (0.0, 15.0)], branin, 0.397887),
    "hartmann6": ([(0.0, 1.0)] * 6, hartmann6, -3.32237),
    "rosenbrock10": ([(-5.0, 10.0)] * 10, rosenbrock, 0.0),
}


def make_sampler(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; valid: tpe, cmaes, random")


def run_one(job):
    fname, sampler_name, seed, trials = job
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bounds, fn, _ = FUNCTIONS[fname]

    def objective(trial):
        return fn([trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])

    study = optuna.create_study(direction="minimize", sampler=make_sampler(sampler_name, seed))
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    seconds = time.perf_counter() - start
    best, best_at = math.inf, []
    for t in study.trials:
        if t.value is not None:
            best = min(best, t.value)
        if t.number + 1 in BUDGETS:
            best_at.append(best)
    return best_at, seconds


def quantile(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    pos = q * (len(v) - 1)
    i = int(pos)
    frac = pos - i
    return v[i] * (1 - frac) + v[i + 1] * frac if i + 1 < len(v) else v[i]


def emit(obj):
    print(json.dumps(obj), flush=True)


def run_quality(args, pool):
    for fname in args.functions:
        for sampler_name in args.samplers:
            jobs = [(fname, sampler_name, seed, args.trials) for seed in range(args.seeds)]
            results = pool.map(run_one, jobs)
            budgets = [b for b in BUDGETS if b <= args.trials]
            line = {"kind": "quality", "impl": "optuna", "sampler": sampler_name,
                    "function": fname, "optimum": FUNCTIONS[fname][2], "seeds": args.seeds,
                    "trials": args.trials,
                    "seconds_per_run": sum(s for _, s in results) / len(results), "best": {}}
            for bi, b in enumerate(budgets):
                v = [r[0][bi] for r in results if len(r[0]) > bi]
                line["best"][str(b)] = {"median": quantile(v, 0.5), "q1": quantile(v, 0.25),
                                        "q3": quantile(v, 0.75), "values": v}
            emit(line)
            print(f"quality {fname} optuna-{sampler_name} done "
                  f"({line['seconds_per_run']:.2f} s/run)", file=sys.stderr)


def fill_history(study, n, seed):
    """n completed trials at random points of Hartmann6's box, added without sampling."""
    import random
    rng = random.Random(seed)
    dists = {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(6)}
    trials = []
    for _ in range(n):
        x = [rng.random() for _ in range(6)]
        trials.append(optuna.trial.create_trial(
            params={f"x{i}": x[i] for i in range(6)}, distributions=dists, value=hartmann6(x)))
    study.add_trials(trials)


def time_tpe(n, storage, cap_s):
    """Mean seconds of one TPE ask+tell after n completed trials, within cap_s seconds."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", storage=storage,
                                sampler=optuna.samplers.TPESampler(seed=7))
    t0 = time.perf_counter()
    fill_history(study, n, 7)
    fill_s = time.perf_counter() - t0
    reps, total = 0, 0.0
    while reps < 20 and (reps == 0 or total < min(2.0, cap_s)):
        start = time.perf_counter()
        trial = study.ask()
        x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)]
        study.tell(trial, hartmann6(x))
        total += time.perf_counter() - start
        reps += 1
        if total > cap_s:
            break
    return 1000 * total / reps, reps, fill_s


def run_overhead(args):
    cases = [(1000, "memory"), (1000, "sqlite"), (10000, "memory")]
    for n, where in cases:
        line = {"kind": "overhead", "impl": "optuna", "sampler": "tpe", "history": n,
                "storage": where}
        with tempfile.TemporaryDirectory() as tmp:
            storage = f"sqlite:///{os.path.join(tmp, 'study.db')}" if where == "sqlite" else None
            ms, reps, fill_s = time_tpe(n, storage, args.overhead_cap)
        line.update({"ms_per_suggestion": ms, "reps": reps, "fill_seconds": fill_s})
        emit(line)
        print(f"overhead optuna-tpe {where} n={n} done ({ms:.1f} ms)", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--samplers", default="tpe,cmaes,random")
    parser.add_argument("--functions", default="branin,hartmann6,rosenbrock10")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-overhead", action="store_true")
    parser.add_argument("--overhead-cap", type=float, default=60.0,
                        help="seconds spent timing suggestions at one history size")
    args = parser.parse_args()
    args.samplers = [s for s in args.samplers.split(",") if s]
    args.functions = [f for f in args.functions.split(",") if f]
    for f in args.functions:
        if f not in FUNCTIONS:
            parser.error(f"unknown function {f!r}; valid: {', '.join(FUNCTIONS)}")
    if not args.no_quality:
        with multiprocessing.Pool(max(1, args.jobs)) as pool:
            run_quality(args, pool)
    if not args.no_overhead:
        run_overhead(args)


if __name__ == "__main__":
    main()
