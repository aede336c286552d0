"""Scoring script in Azure ML's convention: init() loads the model once, run(raw_json) answers.

    run('{"data": [[0, 0, ..., 255], ...]}')      each row 784 pixels (0..255), or 28 rows of 28
returns, for each image, {"label": index, "class": name, "probability": p}.
The model is read from $AZUREML_MODEL_DIR (searched recursively for model.pt), else from this
script's folder.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # fmnist.py (the model's definition) lies beside us

import numpy as np  # noqa: E402
import torch  # noqa: E402

import fmnist  # noqa: E402

_model = None
_meta = None


def _find_model():
    root = os.environ.get("AZUREML_MODEL_DIR")
    if root:
        for folder, _, files in os.walk(root):
            if "model.pt" in files:
                return os.path.join(folder, "model.pt")
    return os.path.join(HERE, "model.pt")


def init():
    global _model, _meta
    torch.set_num_threads(1)
    _meta = torch.load(_find_model(), map_location="cpu")
    _model = fmnist.SmallCNN(_meta["width"], _meta["dropout"])
    _model.load_state_dict(_meta["state_dict"])
    _model.eval()


def run(raw_data):
    if _model is None:
        init()
    request = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    try:
        pixels = np.asarray(request["data"], dtype=np.float32).reshape(-1, 784)
    except (KeyError, TypeError, ValueError):
        return {"error": 'expected {"data": [[784 pixel values 0..255], ...]}'}
    with torch.no_grad():
        proba = torch.softmax(_model(fmnist.to_tensor(pixels, _meta["mean"], _meta["std"])), 1)
    best = proba.argmax(1)
    return [{"label": int(k), "class": _meta["classes"][int(k)],
             "probability": round(float(proba[i, k]), 4)} for i, k in enumerate(best)]


if __name__ == "__main__":
    # A quick look: score the first 5 test images.
    images, labels = fmnist.load_split(fmnist.data_dir(), "test")
    print(json.dumps(run(json.dumps({"data": images[:5].reshape(5, -1).tolist()}))))
    print("true classes:", [fmnist.CLASSES[k] for k in labels[:5]])
