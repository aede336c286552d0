"""Fashion-MNIST from Debian's `dataset-fashion-mnist` files, and the small CNN the sweep tunes.

Shared by train.py and score.py (which is copied with it into the saved model's folder).
"""
import gzip
import os

import numpy as np
import torch
from torch import nn

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def data_dir(explicit=None):
    """--data-dir, else $FASHION_MNIST_DIR, else where Debian's package puts the files."""
    return explicit or os.environ.get("FASHION_MNIST_DIR") or DEFAULT_DATA_DIR


def _read_idx(path, magic, header):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: not an IDX file of the expected kind (magic {found:#x}, "
                         f"expected {magic:#x})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def load_split(folder, split):
    """(images uint8 [n, 28, 28], labels int64 [n]) of the 'train' (60,000) or 'test' (10,000) set."""
    images_name, labels_name = FILES[split]
    images_path = os.path.join(folder, images_name)
    labels_path = os.path.join(folder, labels_name)
    for p in (images_path, labels_path):
        if not os.path.exists(p):
            raise SystemExit(
                f"Fashion-MNIST file {p} is missing. Install Debian's package "
                "(apt-get install dataset-fashion-mnist) or point --data-dir / $FASHION_MNIST_DIR "
                "at a folder holding the four *-ubyte.gz files.")
    images = _read_idx(images_path, 0x803, 16).reshape(-1, 28, 28)
    labels = _read_idx(labels_path, 0x801, 8).astype(np.int64)
    if len(images) != len(labels):
        raise SystemExit(f"{folder}: {len(images)} images but {len(labels)} labels ({split})")
    return images, labels


def stratified_indices(labels, sizes, seed):
    """Disjoint index sets, one per requested size, each with (nearly) equal counts per class.

    sizes: a list such as [6000, 2000]; class c gets size // 10 (+1 for the first size % 10
    classes). Raises when a class has too few examples.
    """
    rng = np.random.default_rng(seed)
    n_classes = int(labels.max()) + 1
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(n_classes)]
    out = []
    taken = [0] * n_classes
    for size in sizes:
        chosen = []
        for c in range(n_classes):
            k = size // n_classes + (1 if c < size % n_classes else 0)
            if taken[c] + k > len(per_class[c]):
                raise SystemExit(f"asked for {size} images but class {c} has only "
                                 f"{len(per_class[c]) - taken[c]} left")
            chosen.append(per_class[c][taken[c]:taken[c] + k])
            taken[c] += k
        out.append(rng.permutation(np.concatenate(chosen)))
    return out


class SmallCNN(nn.Module):
    """Two strided convolutions and one linear layer: 28x28 -> 14x14 (width) -> 7x7 (2 x width).

    Strided convolutions instead of max pooling and no hidden linear layer keep it fast on CPUs
    with Debian's reference BLAS (~2 s per 6,000 images at width 8 on one core).
    """

    def __init__(self, width=16, dropout=0.25):
        super().__init__()
        self.width = width
        self.dropout = dropout
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * 49, 10))

    def forward(self, x):
        return self.head(self.features(x))


def to_tensor(images, mean, std):
    """uint8 [n, 28, 28] (or float pixels 0..255) -> normalised float32 [n, 1, 28, 28]."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
    return (x / 255.0 - mean) / std
