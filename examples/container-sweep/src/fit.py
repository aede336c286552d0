"""Fits y = 3x - 1 by gradient descent with momentum; prints loss=<value> each epoch.

Standard library only: it runs in the bare Debian base image. Overdrive's stdout collector reads
the `loss=...` lines, so nothing needs to be installed in the container.
"""
import argparse
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("--learning-rate", type=float, required=True)
parser.add_argument("--momentum", type=float, default=0.0)
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()

rng = random.Random(0)
data = [(x, 3 * x - 1 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(200))]
w = b = vw = vb = 0.0
with open("/etc/os-release") as f:
    system = dict(line.rstrip().split("=", 1) for line in f if "=" in line)
where = "a container" if os.path.exists("/run/.containerenv") else "no container"
print("running in", where, "of", system.get("PRETTY_NAME", "?").strip('"'), "as uid", os.getuid())
for epoch in range(args.epochs):
    gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
    gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
    vw = args.momentum * vw - args.learning_rate * gw
    vb = args.momentum * vb - args.learning_rate * gb
    w, b = w + vw, b + vb
    loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
    print(f"loss={loss:.6f}", flush=True)
