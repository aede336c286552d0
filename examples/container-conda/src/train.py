"""Fits y = 3x - 1 by gradient descent; prints loss=<value> each epoch, and where it runs.

Standard library only, so it needs no package index; `python` here is the environment's venv
(made from conda.yml by the image's Python), which the first line shows.
"""
import argparse
import os
import random
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--learning-rate", type=float, required=True)
parser.add_argument("--epochs", type=int, default=15)
args = parser.parse_args()

where = "a container" if os.path.exists("/run/.containerenv") else "no container"
print(f"running in {where}, Python {sys.version.split()[0]} from {sys.prefix}", flush=True)
rng = random.Random(0)
data = [(x, 3 * x - 1 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(200))]
w = b = 0.0
for epoch in range(args.epochs):
    gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
    gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
    w, b = w - args.learning_rate * gw, b - args.learning_rate * gb
    loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
    print(f"loss={loss:.6f}", flush=True)
