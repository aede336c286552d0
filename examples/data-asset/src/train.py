"""Logistic regression on a folder of CSV files (train.csv, test.csv; label last), which the job
receives as a local path whatever the data asset's datastore is.

Prints the test accuracy (`accuracy=0.96`) for the sweep and saves the model under --model-dir.
"""
import argparse
import csv
import os
import pickle

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    data = np.array(rows, dtype=float)
    return data[:, :-1], data[:, -1].astype(int)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with train.csv and test.csv")
    ap.add_argument("--C", type=float, required=True)
    ap.add_argument("--model-dir", default="outputs")
    args = ap.parse_args()

    X_train, y_train = load(os.path.join(args.data, "train.csv"))
    X_test, y_test = load(os.path.join(args.data, "test.csv"))
    scaler = StandardScaler().fit(X_train)
    model = LogisticRegression(C=args.C, max_iter=2000)
    model.fit(scaler.transform(X_train), y_train)
    accuracy = model.score(scaler.transform(X_test), y_test)
    print(f"read {len(y_train)} training rows from {args.data}")
    print(f"accuracy={accuracy:.4f}")
    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "model.pkl"), "wb") as f:
        pickle.dump({"scaler": scaler, "model": model}, f)


if __name__ == "__main__":
    main()
