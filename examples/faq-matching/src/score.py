"""Scoring script in Azure ML's convention: init() loads the model once, run(raw_json) answers.

    run('{"data": ["How do I sort a hash by value?"]}')   or   run('{"question": "..."}')
returns, for each question, the 5 best-matching FAQ entries:
    [[{"id", "question", "source", "probability"}, ...], ...]
The model is read from $AZUREML_MODEL_DIR (searched recursively for model.pkl), else from this
script's folder.
"""
import json
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # faq_features.py, which the pickled featurizer needs, lies beside us

from faq_features import match_scores  # noqa: E402

_model = None
TOP_K = 5


def _find_model():
    root = os.environ.get("AZUREML_MODEL_DIR")
    if root:
        for folder, _, files in os.walk(root):
            if "model.pkl" in files:
                return os.path.join(folder, "model.pkl")
    return os.path.join(HERE, "model.pkl")


def init():
    global _model
    with open(_find_model(), "rb") as f:
        _model = pickle.load(f)


def run(raw_data):
    if _model is None:
        init()
    request = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    if "question" in request:
        questions = [request["question"]]
    else:
        questions = request.get("data", [])
    if isinstance(questions, str):
        questions = [questions]
    if not questions or not all(isinstance(q, str) and q.strip() for q in questions):
        return {"error": 'expected {"data": ["a question", ...]} or {"question": "..."}'}
    features = _model["featurizer"].transform(questions)
    n_q, n_a, n_f = features.shape
    proba = _model["booster"].predict_proba(features.reshape(-1, n_f))[:, 1].reshape(n_q, n_a)
    order = match_scores(_model["booster"], features)
    results = []
    for k, row in enumerate(proba):
        best = order[k].argsort()[::-1][:TOP_K]
        results.append([dict(_model["entries"][i], probability=round(float(row[i]), 4)) for i in best])
    return results


if __name__ == "__main__":
    init()
    for q in sys.argv[1:] or ["How do I sort a hash by value?"]:
        print(json.dumps(run(json.dumps({"question": q}))[0], indent=1))
