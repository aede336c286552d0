"""Digit recognition with a scikit-learn neural network, trained epoch by epoch.

The validation accuracy is printed after every epoch (`val_accuracy=0.95`): each report is one
interval for the sweep's early-termination policy, so a trial that lags behind is stopped early.
The trained model is saved under outputs/ and becomes an artifact of the run.
"""
import argparse
import os
import pickle
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def augment(X, y):
    """Adds copies of each 8x8 image shifted by one pixel in four directions (5x the data)."""
    images = X.reshape(-1, 8, 8)
    shifted = [images]
    for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
        moved = np.roll(images, step, axis=axis)
        # Blank the row/column that wrapped around.
        index = [slice(None)] * 3
        index[axis] = 0 if step == 1 else -1
        moved[tuple(index)] = 0
        shifted.append(moved)
    return np.concatenate(shifted).reshape(-1, 64), np.tile(y, 5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--learning-rate", type=float, required=True)
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.25, random_state=args.seed, stratify=y)
    X_train, y_train = augment(X_train, y_train)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

    model = MLPClassifier(hidden_layer_sizes=(args.hidden,), alpha=args.alpha,
                          learning_rate_init=args.learning_rate, batch_size=args.batch_size,
                          random_state=args.seed)
    classes = np.unique(y)
    rng = np.random.default_rng(args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(args.epochs):
            order = rng.permutation(len(X_train))
            model.partial_fit(X_train[order], y_train[order], classes=classes)
            acc = model.score(X_val, y_val)
            print(f"epoch={epoch} train_loss={model.loss_:.5f} val_accuracy={acc:.5f}", flush=True)

    os.makedirs("outputs", exist_ok=True)
    with open("outputs/model.pkl", "wb") as f:
        pickle.dump({"scaler": scaler, "model": model}, f)


if __name__ == "__main__":
    main()
