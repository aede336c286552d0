"""Time to accuracy on a real tuning task: XGBoost tuned by Overdrive and by three Python peers.

Driver (run by bench/run_tuning_bench.sh with Debian's /usr/bin/python3):
    tuning_bench.py --overdrive BIN --workdir DIR --seeds 3 --trials 40 --datasets digits
Each method is one command timed from outside, start-up and imports included:
  overdrive   `overdrive job submit sweep.yml --json` (tpe, asha, 2 trials at a time); each trial is
              a fresh `python3 tuning_trial.py` process
  halving     `tuning_bench.py --peer halving`: HalvingRandomSearchCV, 3-fold CV, n_jobs=2
  random      `tuning_bench.py --peer random`: RandomizedSearchCV, 3-fold CV, n_jobs=2
  optuna      `tuning_bench.py --peer optuna`: Optuna TPE + MedianPruner, n_jobs=2 (threads)
All use the same search space, the same number of candidates and one thread per model. A peer
run prints one JSON line {"test_accuracy": ...}. Markdown tables on stdout, progress on stderr.
"""
import argparse
import gzip
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

METHODS = ["overdrive", "overdrive_median", "halving", "random", "optuna"]
LABELS = {
    "overdrive": "Overdrive sweep (tpe + asha, 2 concurrent trials)",
    "overdrive_median": "Overdrive sweep (tpe + median_stopping, 2 concurrent trials)",
    "halving": "scikit-learn HalvingRandomSearchCV (3-fold CV, n_jobs=2)",
    "random": "scikit-learn RandomizedSearchCV (3-fold CV, n_jobs=2)",
    "optuna": "Optuna TPE + MedianPruner (n_jobs=2 threads)",
}

# The search space, the same for every method.
MAX_DEPTH = [2, 3, 4, 5, 6, 8]
N_ESTIMATORS = [50, 100, 150, 200]
LR = (0.01, 0.5)          # log-uniform
MIN_CHILD_WEIGHT = (0.5, 10.0)  # log-uniform
SUBSAMPLE = (0.5, 1.0)    # uniform
COLSAMPLE = (0.4, 1.0)    # uniform


# ---------------------------------------------------------------------------- data

def _read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_dataset(name):
    if name == "digits":
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        return X.astype(np.float32), y.astype(np.int32)
    if name == "fashion":
        base = "/usr/share/datasets/fashion-mnist"
        X = _read_idx(f"{base}/train-images-idx3-ubyte.gz").reshape(-1, 784)
        y = _read_idx(f"{base}/train-labels-idx1-ubyte.gz")
        rng = np.random.default_rng(0)
        keep = rng.choice(len(y), 20000, replace=False)  # the 20k-row subset, fixed
        return (X[keep] / 255.0).astype(np.float32), y[keep].astype(np.int32)
    raise SystemExit(f"unknown dataset {name!r} (digits, fashion)")


def write_splits(name, path):
    """Fixed split (seed 0, stratified): 20% test; of the rest 25% validation -> 60/20/20."""
    from sklearn.model_selection import train_test_split
    X, y = load_dataset(name)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, random_state=0, stratify=y_rest)
    np.savez(path, X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val,
             X_test=X_test, y_test=y_test)
    return {"train": len(y_train), "val": len(y_val), "test": len(y_test), "features": X.shape[1]}


# ---------------------------------------------------------------------------- peers

def peer_sklearn(kind, splits, seed, trials):
    from scipy.stats import loguniform, uniform
    from sklearn.model_selection import StratifiedKFold
    from xgboost import XGBClassifier
    space = {
        "max_depth": MAX_DEPTH,
        "learning_rate": loguniform(*LR),
        "min_child_weight": loguniform(*MIN_CHILD_WEIGHT),
        "subsample": uniform(SUBSAMPLE[0], SUBSAMPLE[1] - SUBSAMPLE[0]),
        "colsample_bytree": uniform(COLSAMPLE[0], COLSAMPLE[1] - COLSAMPLE[0]),
        "n_estimators": N_ESTIMATORS,
    }
    # The CV searches see train+validation and cross-validate on it; the best is refit on it.
    X = np.concatenate([splits["X_train"], splits["X_val"]])
    y = np.concatenate([splits["y_train"], splits["y_val"]])
    model = XGBClassifier(tree_method="hist", n_jobs=1, random_state=0, verbosity=0)
    cv = StratifiedKFold(3, shuffle=True, random_state=seed)
    if kind == "random":
        from sklearn.model_selection import RandomizedSearchCV
        search = RandomizedSearchCV(model, space, n_iter=trials, cv=cv, n_jobs=2,
                                    random_state=seed, refit=True)
    else:
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingRandomSearchCV
        search = HalvingRandomSearchCV(model, space, n_candidates=trials, factor=3, cv=cv,
                                       n_jobs=2, random_state=seed, refit=True)
    search.fit(X, y)
    acc = float((search.best_estimator_.predict(splits["X_test"]) == splits["y_test"]).mean())
    return {"test_accuracy": acc, "best_cv_accuracy": float(search.best_score_),
            "best_params": {k: (float(v) if not isinstance(v, int) else v)
                            for k, v in search.best_params_.items()}}


def peer_optuna(splits, seed, trials):
    import optuna
    import tuning_trial
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    boosters = {}

    def objective(trial):
        p = {
            "max_depth": trial.suggest_categorical("max_depth", MAX_DEPTH),
            "learning_rate": trial.suggest_float("learning_rate", *LR, log=True),
            "min_child_weight": trial.suggest_float("min_child_weight", *MIN_CHILD_WEIGHT, log=True),
            "subsample": trial.suggest_float("subsample", *SUBSAMPLE),
            "colsample_bytree": trial.suggest_float("colsample_bytree", *COLSAMPLE),
            "n_estimators": trial.suggest_categorical("n_estimators", N_ESTIMATORS),
        }
        last = [0.0]

        def report(step, rounds, acc):
            last[0] = acc
            trial.report(acc, step)
            return not trial.should_prune()

        booster = tuning_trial.train_in_chunks(p, splits, report)
        if booster is None:
            raise optuna.TrialPruned()
        boosters[trial.number] = booster
        return last[0]

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5,
                                                                   n_warmup_steps=2))
    study.optimize(objective, n_trials=trials, n_jobs=2)
    best = study.best_trial
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return {"test_accuracy": tuning_trial.test_accuracy(boosters[best.number], splits),
            "best_val_accuracy": best.value, "pruned": pruned, "best_params": best.params}


# ---------------------------------------------------------------------------- overdrive

SWEEP = """\
type: sweep
experiment_name: tuning-bench
trial:
  code: {code}
  command: >-
    /usr/bin/python3 tuning_trial.py --data {data}
    --max-depth ${{{{search_space.max_depth}}}}
    --learning-rate ${{{{search_space.learning_rate}}}}
    --min-child-weight ${{{{search_space.min_child_weight}}}}
    --subsample ${{{{search_space.subsample}}}}
    --colsample-bytree ${{{{search_space.colsample_bytree}}}}
    --n-estimators ${{{{search_space.n_estimators}}}}
sampling_algorithm: {{type: tpe, seed: {seed}}}
search_space:
  max_depth: {{type: choice, values: {max_depth}}}
  learning_rate: {{type: loguniform, min_value: {lr0}, max_value: {lr1}}}
  min_child_weight: {{type: loguniform, min_value: {mcw0}, max_value: {mcw1}}}
  subsample: {{type: uniform, min_value: {ss0}, max_value: {ss1}}}
  colsample_bytree: {{type: uniform, min_value: {cs0}, max_value: {cs1}}}
  n_estimators: {{type: choice, values: {n_est}}}
objective: {{goal: maximize, primary_metric: val_accuracy}}
early_termination: {policy}
limits: {{max_total_trials: {trials}, max_concurrent_trials: 2, timeout: 3600, trial_timeout: 1200}}
"""


# asha: rungs at 2, 6 and 18 intervals (20, 60, 180 rounds), the top third goes on.
# median_stopping: Optuna's MedianPruner's rule (n_warmup_steps=2) in Azure's terms.
POLICIES = {
    "overdrive": "{type: asha, min_resource: 2, reduction_factor: 3, brackets: 1}",
    "overdrive_median": "{type: median_stopping, evaluation_interval: 1, delay_evaluation: 3}",
}


def run_overdrive(od, workdir, data, seed, trials, policy):
    code = os.path.join(workdir, "code")
    os.makedirs(code, exist_ok=True)
    shutil.copy(os.path.join(HERE, "tuning_trial.py"), code)
    sweep = os.path.join(workdir, "sweep.yml")
    with open(sweep, "w") as f:
        f.write(SWEEP.format(
            code=code, data=data, seed=seed, trials=trials, policy=policy, max_depth=MAX_DEPTH, n_est=N_ESTIMATORS,
            lr0=math.log(LR[0]), lr1=math.log(LR[1]),
            mcw0=math.log(MIN_CHILD_WEIGHT[0]), mcw1=math.log(MIN_CHILD_WEIGHT[1]),
            ss0=SUBSAMPLE[0], ss1=SUBSAMPLE[1], cs0=COLSAMPLE[0], cs1=COLSAMPLE[1]))
    ws = os.path.join(workdir, "ws")
    t0 = time.perf_counter()
    out = subprocess.run([od, "--workspace", ws, "job", "submit", sweep, "--json"],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"overdrive sweep failed ({out.returncode}): {out.stderr[-2000:]}")
    sweep_id = json.loads(out.stdout)["id"]
    show = subprocess.run([od, "--workspace", ws, "job", "show", sweep_id, "--json"],
                          capture_output=True, text=True, check=True)
    view = json.loads(show.stdout)
    rows = view["trials"]
    # The best trial: the highest final val_accuracy among trials that ran to the end (so the
    # model it reports test_accuracy for is the one validated), as Optuna's best trial.
    done = [t for t in rows if "test_accuracy" in t["metrics"]]
    if not done:
        raise RuntimeError("no overdrive trial reported test_accuracy")
    best = max(done, key=lambda t: t["metrics"]["val_accuracy"]["last"])
    stopped = sum(t["status"] == "early_terminated" for t in rows)
    return wall, {"test_accuracy": best["metrics"]["test_accuracy"]["last"],
                  "best_val_accuracy": best["metrics"]["val_accuracy"]["last"],
                  "pruned": stopped, "trials": len(rows),
                  "trial_seconds": view.get("trial_seconds"),
                  "saved_trial_seconds": view.get("saved_trial_seconds"),
                  "best_params": best["params"]}


def run_peer(kind, data, seed, trials):
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--peer", kind,
                          "--data", data, "--seed", str(seed), "--trials", str(trials)],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", choices=["halving", "random", "optuna"])
    ap.add_argument("--data")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--overdrive")
    ap.add_argument("--workdir")
    ap.add_argument("--datasets", default="digits")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--raw", help="append every result as a JSON line to this file")
    a = ap.parse_args()

    if a.peer:
        from tuning_trial import load_splits
        splits = load_splits(a.data)
        if a.peer == "optuna":
            res = peer_optuna(splits, a.seed, a.trials)
        else:
            res = peer_sklearn(a.peer, splits, a.seed, a.trials)
        print(json.dumps(res))
        return

    methods = [m for m in a.methods.split(",") if m]
    for ds in [d for d in a.datasets.split(",") if d]:
        data = os.path.join(a.workdir, f"{ds}.npz")
        sizes = write_splits(ds, data)
        print(f"== {ds}: {sizes}", file=sys.stderr)
        results = {m: [] for m in methods}
        for seed in range(1, a.seeds + 1):
            # Methods in a rotating order per seed, so load changes on a shared box hit all.
            order = methods[seed - 1:] + methods[:seed - 1]
            for m in order:
                if m in POLICIES:
                    wd = os.path.join(a.workdir, f"{m}-{ds}-{seed}")
                    wall, res = run_overdrive(a.overdrive, wd, data, seed, a.trials, POLICIES[m])
                    shutil.rmtree(wd, ignore_errors=True)
                else:
                    wall, res = run_peer(m, data, seed, a.trials)
                res["wall_s"] = wall
                results[m].append(res)
                print(f"   {ds} seed {seed} {m}: {wall:.1f} s, test {res['test_accuracy']:.4f}"
                      f"{'' if 'pruned' not in res else ', stopped early ' + str(res['pruned'])}",
                      file=sys.stderr)
                if a.raw:
                    with open(a.raw, "a") as f:
                        f.write(json.dumps({"dataset": ds, "seed": seed, "method": m, **res}) + "\n")
        print_table(ds, sizes, results, a)


def print_table(ds, sizes, results, a):
    med = {m: (statistics.median(r["wall_s"] for r in rs),
               statistics.median(r["test_accuracy"] for r in rs)) for m, rs in results.items() if rs}
    peers = [m for m in med if m not in POLICIES]
    fastest = min(med[m][0] for m in peers) if peers else None
    print(f"\n### {ds}: {sizes['train']} train / {sizes['val']} validation / {sizes['test']} test rows, "
          f"{sizes['features']} features; {a.trials} candidates, {a.seeds} seed(s)\n")
    print("| method | wall s (median, min–max) | test accuracy (median, min–max) | stopped early "
          "| wall ÷ fastest peer |")
    print("|---|---|---|---|---|")
    for m, rs in results.items():
        if not rs:
            continue
        walls = [r["wall_s"] for r in rs]
        accs = [r["test_accuracy"] for r in rs]
        pr = [r["pruned"] for r in rs if "pruned" in r]
        stopped = f"{statistics.median(pr):g} of {a.trials}" if pr else "–"
        ratio = f"{med[m][0] / fastest:.2f}x" if fastest else "–"
        print(f"| {LABELS[m]} | {med[m][0]:.1f} ({min(walls):.1f}–{max(walls):.1f}) | "
              f"{med[m][1]:.4f} ({min(accs):.4f}–{max(accs):.4f}) | {stopped} | {ratio} |")
    if not peers:
        return
    best_peer_acc = max(med[m][1] for m in peers)
    print()
    for m in [m for m in POLICIES if m in med]:
        ok = med[m][1] >= best_peer_acc and med[m][0] <= 0.5 * fastest
        line = (f"Goal for {LABELS[m]} (test accuracy >= every peer's, in <= half the fastest "
                f"peer's wall time): {'met' if ok else 'NOT met'}: {med[m][1]:.4f} in "
                f"{med[m][0]:.1f} s; best peer accuracy {best_peer_acc:.4f}; fastest peer "
                f"{fastest:.1f} s.")
        ts = [r["trial_seconds"] for r in results[m] if r.get("trial_seconds") is not None]
        sv = [r["saved_trial_seconds"] for r in results[m] if r.get("saved_trial_seconds") is not None]
        if ts:
            line += (f" Trial-seconds used (median): {statistics.median(ts):.1f}, saved by early "
                     f"termination: {statistics.median(sv):.1f}.")
        print(line + "\n")


if __name__ == "__main__":
    main()
