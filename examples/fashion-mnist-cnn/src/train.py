"""A small PyTorch CNN on Fashion-MNIST, trained epoch by epoch on a stratified subset.

The data are Debian's `dataset-fashion-mnist` files (gzipped IDX, read with gzip + numpy; nothing
is downloaded). By default 6,000 training and 2,000 validation images are drawn from the 60,000
training images (equal counts per class, a fixed --data-seed, so every trial sees the same split)
and 2,000 test images from the 10,000 test images.

After every epoch it prints `epoch=N train_loss=... val_accuracy=...`: Overdrive reads those
`name=value` lines as metrics, and each `val_accuracy` is one interval for the sweep's
early-termination policy. At the end it prints `test_accuracy=...` and saves the model under
--out (outputs/model by default: model.pt plus an Azure-style score.py, so the folder can be
registered and served with `overdrive model register` / `overdrive serve`).

Runs on CUDA when torch sees a GPU, else on the CPU with --threads threads (default: $OMP_NUM_THREADS,
else 1; two trials sharing two cores should use one thread each).
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fmnist  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's learning rate")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--width", type=int, default=16, help="channels of the first convolution")
    ap.add_argument("--dropout", type=float, default=0.25, help="before the linear layer")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--train-size", type=int, default=6000, help="training images (stratified)")
    ap.add_argument("--val-size", type=int, default=2000, help="validation images (stratified)")
    ap.add_argument("--test-size", type=int, default=2000,
                    help="test images from the separate test set, scored once at the end; 0: none")
    ap.add_argument("--seed", type=int, default=0, help="weights and batch order")
    ap.add_argument("--data-seed", type=int, default=0, help="which images form the subsets")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads (default: $OMP_NUM_THREADS, else 1)")
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    ap.add_argument("--data-dir", default=None,
                    help=f"folder of the *-ubyte.gz files (default: $FASHION_MNIST_DIR, else "
                         f"{fmnist.DEFAULT_DATA_DIR})")
    ap.add_argument("--out", default="outputs/model", help="where the trained model is saved")
    args = ap.parse_args()
    for name in ("batch_size", "width", "epochs", "train_size", "val_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.dropout < 1:
        ap.error("--dropout must be in [0, 1)")
    if not args.learning_rate > 0:
        ap.error("--learning-rate must be more than 0")
    return args


@torch.no_grad()
def accuracy(model, x, y, device, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        logits = model(x[i:i + batch].to(device))
        correct += (logits.argmax(1).cpu() == y[i:i + batch]).sum().item()
    return correct / len(x)


def main():
    args = parse_args()
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS") or 1)
    torch.set_num_threads(max(1, threads))
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    t0 = time.time()
    folder = fmnist.data_dir(args.data_dir)
    images, labels = fmnist.load_split(folder, "train")
    train_idx, val_idx = fmnist.stratified_indices(labels, [args.train_size, args.val_size],
                                                   args.data_seed)
    mean = float(images[train_idx].mean() / 255.0)
    std = float(images[train_idx].std() / 255.0)
    x_train = fmnist.to_tensor(images[train_idx], mean, std)
    y_train = torch.as_tensor(labels[train_idx])
    x_val = fmnist.to_tensor(images[val_idx], mean, std)
    y_val = torch.as_tensor(labels[val_idx])
    if device.type == "cuda":
        x_train, y_train = x_train.to(device), y_train.to(device)
    print(f"fashion-mnist from {folder}: {len(train_idx)} training / {len(val_idx)} validation "
          f"images; device {device}, {torch.get_num_threads()} CPU thread(s); data ready in "
          f"{time.time() - t0:.1f} s", flush=True)

    model = fmnist.SmallCNN(args.width, args.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    n = len(x_train)
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        model.train()
        order = torch.as_tensor(rng.permutation(n), device=x_train.device)
        total, seen = 0.0, 0
        for i in range(0, n, args.batch_size):
            batch = order[i:i + args.batch_size]
            xb, yb = x_train[batch].to(device), y_train[batch].to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        val_acc = accuracy(model, x_val, y_val, device)
        print(f"epoch={epoch} train_loss={total / seen:.5f} val_accuracy={val_acc:.5f} "
              f"epoch_seconds={time.time() - started:.2f}", flush=True)

    if args.test_size > 0:
        test_images, test_labels = fmnist.load_split(folder, "test")
        (test_idx,) = fmnist.stratified_indices(test_labels, [args.test_size], args.data_seed)
        x_test = fmnist.to_tensor(test_images[test_idx], mean, std)
        y_test = torch.as_tensor(test_labels[test_idx])
        print(f"test_accuracy={accuracy(model, x_test, y_test, device):.5f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "width": args.width, "dropout": args.dropout, "mean": mean, "std": std,
                "classes": fmnist.CLASSES, "args": vars(args)},
               os.path.join(args.out, "model.pt"))
    for name in ("fmnist.py", "score.py"):
        shutil.copy(os.path.join(HERE, name), os.path.join(args.out, name))
    with open(os.path.join(args.out, "overdrive-model.json"), "w") as f:
        json.dump({"kind": "scoring_script", "entry": "score.py"}, f)
    print(f"model saved to {args.out} after {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
