"""One XGBoost candidate of the tuning bench, trained in chunks of boosting rounds.

As an Overdrive trial (run by the sweep in bench/tuning_bench.py):
    /usr/bin/python3 tuning_trial.py --data splits.npz --max-depth 4 --learning-rate 0.1 ...
prints `round=N val_accuracy=x` after every chunk of CHUNK rounds (each line is one interval for
the sweep's early-termination policy) and `test_accuracy=x` for the final model.

Optuna's side imports train_in_chunks() and reports through a callback, so both train exactly
the same way. One thread per model: the searches run two models at a time on two cores.
"""
import argparse
import sys

if __name__ == "__main__":
    # As a trial, this file runs in a fresh process each time: xgboost would import scikit-learn
    # (~0.6 s) for its sklearn-style wrappers, which xgb.train does not use. The in-process peers
    # pay their imports once; a trial pays them every time, so it skips this one.
    sys.modules.setdefault("sklearn", None)

import numpy as np
import xgboost as xgb

CHUNK = 10  # boosting rounds per report


def load_splits(path):
    d = np.load(path)
    return {k: d[k] for k in d.files}


def xgb_params(p, seed=0):
    return {
        "objective": "multi:softprob",
        "num_class": int(p["num_class"]),
        "tree_method": "hist",
        "nthread": 1,
        "max_depth": int(p["max_depth"]),
        "eta": float(p["learning_rate"]),
        "min_child_weight": float(p["min_child_weight"]),
        "subsample": float(p["subsample"]),
        "colsample_bytree": float(p["colsample_bytree"]),
        "seed": seed,
        "verbosity": 0,
    }


def accuracy(booster, dmat, labels):
    return float((booster.predict(dmat).argmax(axis=1) == labels).mean())


def train_in_chunks(p, splits, report):
    """Trains p["n_estimators"] rounds, CHUNK at a time, calling report(chunk_index, val_accuracy)
    after each chunk; report returns False to stop early. Returns the booster (None if stopped)."""
    dtrain = xgb.DMatrix(splits["X_train"], label=splits["y_train"], nthread=1)
    dval = xgb.DMatrix(splits["X_val"], nthread=1)
    params = xgb_params(dict(p, num_class=int(splits["y_train"].max()) + 1))
    booster = None
    rounds = int(p["n_estimators"])
    done = 0
    step = 0
    while done < rounds:
        n = min(CHUNK, rounds - done)
        booster = xgb.train(params, dtrain, n, xgb_model=booster)
        done += n
        step += 1
        if report(step, done, accuracy(booster, dval, splits["y_val"])) is False:
            return None
    return booster


def test_accuracy(booster, splits):
    return accuracy(booster, xgb.DMatrix(splits["X_test"], nthread=1), splits["y_test"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-depth", type=float, required=True)
    ap.add_argument("--learning-rate", type=float, required=True)
    ap.add_argument("--min-child-weight", type=float, required=True)
    ap.add_argument("--subsample", type=float, required=True)
    ap.add_argument("--colsample-bytree", type=float, required=True)
    ap.add_argument("--n-estimators", type=float, required=True)
    a = ap.parse_args()
    splits = load_splits(a.data)
    p = {"max_depth": a.max_depth, "learning_rate": a.learning_rate,
         "min_child_weight": a.min_child_weight, "subsample": a.subsample,
         "colsample_bytree": a.colsample_bytree, "n_estimators": a.n_estimators}

    def report(step, rounds, acc):
        print(f"round={rounds} val_accuracy={acc:.5f}", flush=True)

    booster = train_in_chunks(p, splits, report)
    print(f"test_accuracy={test_accuracy(booster, splits):.5f}", flush=True)


if __name__ == "__main__":
    main()
