"""Writes scikit-learn's breast cancer data set (bundled with Debian's python3-sklearn) as CSV
files into a folder, the shape most training data has before it is registered:

    /usr/bin/python3 examples/data-asset/export_data.py examples/data-asset/data

train.csv and test.csv, a fixed 75/25 split; the last column is the label.
"""
import csv
import os
import sys

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "data")
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    os.makedirs(out, exist_ok=True)
    for name, features, labels in (("train", X_train, y_train), ("test", X_test, y_test)):
        with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([f"f{i}" for i in range(features.shape[1])] + ["label"])
            for row, label in zip(features, labels):
                w.writerow([f"{v:.6g}" for v in row] + [int(label)])
    print(f"wrote {len(y_train)} training and {len(y_test)} test rows to {out}")


if __name__ == "__main__":
    main()
