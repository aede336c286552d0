"""Scoring script (Azure ML's init()/run() convention) for the serving bench: the same XGBoost
model as the native path, scored with xgboost's Python package.

    run('{"data": [[64 numbers], ...]}') -> {"predictions": [[10 class probabilities], ...]}
"""
import json
import os

import numpy as np
import xgboost as xgb

_booster = None


def init():
    global _booster
    folder = os.environ.get("AZUREML_MODEL_DIR") or os.path.dirname(os.path.abspath(__file__))
    _booster = xgb.Booster(model_file=os.path.join(folder, "model.json"))
    _booster.set_param({"nthread": 1})  # two worker processes on two cores


def run(raw_data):
    request = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    rows = np.asarray(request["data"] if isinstance(request, dict) else request, dtype=np.float32)
    return {"predictions": _booster.inplace_predict(rows).tolist()}
