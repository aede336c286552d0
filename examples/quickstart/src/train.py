"""Quickstart training script: logistic regression by gradient descent, standard library only.

It reports metrics both ways Overdrive collects them:
  - printing `name=value` lines on stdout (picked up by the stdout pattern), and
  - the Overdrive Python client (`import overdrive`), which appends JSON lines to the file
    named by OVERDRIVE_METRICS_FILE.
"""
import argparse
import json
import math
import os
import random

import overdrive


def make_data(n, seed):
    rng = random.Random(seed)
    true_w = [1.5, -2.0, 0.7]
    rows = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in true_w]
        z = sum(w * xi for w, xi in zip(true_w, x)) + rng.gauss(0, 0.5)
        rows.append((x, 1 if z > 0 else 0))
    return rows


def predict(w, b, x):
    z = sum(wi * xi for wi, xi in zip(w, x)) + b
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--model-dir", default="outputs/model")
    args = ap.parse_args()

    seed = int(os.environ.get("QUICKSTART_SEED", "0"))
    data = make_data(1200, seed)
    train, val = data[:1000], data[1000:]
    overdrive.log_param("train_rows", len(train))

    w, b = [0.0, 0.0, 0.0], 0.0
    for epoch in range(args.epochs):
        gw, gb, loss = [0.0] * len(w), 0.0, 0.0
        for x, y in train:
            p = predict(w, b, x)
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            for i, xi in enumerate(x):
                gw[i] += (p - y) * xi
            gb += p - y
        w = [wi - args.learning_rate * g / len(train) for wi, g in zip(w, gw)]
        b -= args.learning_rate * gb / len(train)
        acc = sum((predict(w, b, x) > 0.5) == (y == 1) for x, y in val) / len(val)
        print(f"epoch={epoch} train_loss={loss / len(train):.5f}")
        overdrive.log_metric("val_accuracy", acc, step=epoch)

    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "model.json"), "w") as f:
        json.dump({"weights": w, "bias": b}, f)
    print(f"saved model to {args.model_dir}")


if __name__ == "__main__":
    main()
