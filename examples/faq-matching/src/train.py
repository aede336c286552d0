"""FAQ matching: given a question, find its answer among all ~590 answers of three real FAQs.

A gradient-boosted classifier scores (question, candidate answer) pairs from similarity features
(word and character TF-IDF cosines, BM25, LSA, word overlap, lengths, the FAQ the question is
likely about, and how each score compares with the question's other candidates). Candidates are
ranked by that probability.

Training runs in stages (warm_start, more trees each stage). After each stage it prints
`val_mrr=...` (mean reciprocal rank of the right answer for the validation questions, against all
answers) and `val_auc=...` (pair level): each report is one interval for the sweep's early
termination. At the end: val_top1/val_top5/val_mrr and test_top1/test_top5/test_mrr, and the model
under outputs/model/ (model.pkl + an Azure-style score.py).

Data: --data-dir, else $OVERDRIVE_DATA_DIR, else ~/.cache/overdrive/faq (filled by
scripts/fetch_faq_data.sh; data.jsonl and split.json are prepared on first use).
"""
import argparse
import json
import os
import pickle
import shutil
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from faq_features import (SOURCES, PairFeaturizer, default_data_dir, load_data, match_scores,
                          ranking_metrics, same_question_groups)

HERE = os.path.dirname(os.path.abspath(__file__))


def str2bool(s):
    if s.lower() in ("1", "true", "yes", "on"):
        return True
    if s.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{s}'")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="", help="default: $OVERDRIVE_DATA_DIR or ~/.cache/overdrive/faq")
    # Features.
    ap.add_argument("--ngram-max", type=int, default=2, help="word n-grams 1..N")
    ap.add_argument("--min-df", type=int, default=1)
    ap.add_argument("--sublinear-tf", type=str2bool, default=True)
    ap.add_argument("--char-ngrams", type=str2bool, default=True)
    ap.add_argument("--lsa-dims", type=int, default=100)
    # Booster.
    ap.add_argument("--learning-rate", type=float, default=0.05)
    ap.add_argument("--max-iter", type=int, default=200, help="trees in all, added over --stages")
    ap.add_argument("--max-leaf-nodes", type=int, default=15)
    ap.add_argument("--min-samples-leaf", type=int, default=20)
    ap.add_argument("--l2-regularization", type=float, default=1.0)
    ap.add_argument("--negatives", type=int, default=20, help="negatives per positive pair")
    ap.add_argument("--hard-fraction", type=float, default=0.5,
                    help="share of negatives drawn from the question's top-30 BM25 candidates")
    ap.add_argument("--monotonic", type=str2bool, default=True,
                    help="similarities may only raise the match probability")
    ap.add_argument("--stages", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="outputs/model")
    return ap.parse_args()


def sample_pairs(features, rows, groups, negatives, hard_fraction, rng, bm25_column):
    """Positive pairs (question, each right answer) and sampled negatives, from (q, n_answers, f)."""
    X, y = [], []
    n_answers = features.shape[1]
    for k, q in enumerate(rows):
        correct = np.array(groups[q])
        wrong = np.setdiff1d(np.arange(n_answers), correct)
        n_hard = int(round(negatives * hard_fraction))
        top = wrong[np.argsort(-features[k, wrong, bm25_column])[:30]]
        hard = rng.choice(top, size=min(n_hard, len(top)), replace=False)
        rest = np.setdiff1d(wrong, hard)
        easy = rng.choice(rest, size=min(negatives - len(hard), len(rest)), replace=False)
        chosen = np.concatenate([correct, hard, easy])
        X.append(features[k, chosen])
        y.append(np.r_[np.ones(len(correct)), np.zeros(len(chosen) - len(correct))])
    return np.concatenate(X), np.concatenate(y)


def main():
    args = parse_args()
    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    entries, split = load_data(args.data_dir or default_data_dir())
    index = {e["id"]: i for i, e in enumerate(entries)}
    groups = same_question_groups(entries)
    rows = {part: [index[i] for i in split[part]] for part in ("train", "validation", "test")}
    questions = {part: [entries[r]["question"] for r in rs] for part, rs in rows.items()}
    answers = [e["answer"] for e in entries]
    sources = [e["source"] for e in entries]

    train_sources = [sources[r] for r in rows["train"]]
    feat = PairFeaturizer(ngram_max=args.ngram_max, min_df=args.min_df, sublinear_tf=args.sublinear_tf,
                          char_ngrams=args.char_ngrams, lsa_dims=args.lsa_dims, seed=args.seed)
    feat.fit(answers, sources, questions["train"], train_sources)

    # The source classifier has seen the training questions; their source probabilities come from
    # 5-fold cross-fitting instead, so the booster learns how much to trust an honest guess.
    train_proba = np.zeros((len(rows["train"]), len(SOURCES)), dtype=np.float32)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=args.seed)
    labels = [SOURCES.index(s) for s in train_sources]
    held = cross_val_predict(clone(feat.source_clf), questions["train"], labels, cv=cv, method="predict_proba")
    train_proba[:, np.unique(labels)] = held

    F = {"train": feat.transform(questions["train"], train_proba),
         "validation": feat.transform(questions["validation"]),
         "test": feat.transform(questions["test"])}
    bm25_column = F["train"].shape[2] - 5 - 8  # the raw BM25 score (see PairFeaturizer.transform)
    X_train, y_train = sample_pairs(F["train"], rows["train"], groups, args.negatives, args.hard_fraction,
                                    rng, bm25_column)
    X_val, y_val = sample_pairs(F["validation"], rows["validation"], groups, args.negatives,
                                args.hard_fraction, np.random.default_rng(12345), bm25_column)
    print(f"entries={len(entries)} train_pairs={len(y_train)} features={X_train.shape[1]}"
          f" prepare_s={time.time() - t0:.1f}", flush=True)

    model = HistGradientBoostingClassifier(
        learning_rate=args.learning_rate, max_iter=0, max_leaf_nodes=args.max_leaf_nodes,
        min_samples_leaf=args.min_samples_leaf, l2_regularization=args.l2_regularization,
        monotonic_cst=feat.monotonic_constraints() if args.monotonic else None,
        early_stopping=False, warm_start=True, random_state=args.seed)
    for stage in range(1, args.stages + 1):
        model.max_iter = max(1, round(args.max_iter * stage / args.stages))
        model.fit(X_train, y_train)
        auc = roc_auc_score(y_val, model.predict_proba(X_val)[:, 1])
        m = ranking_metrics(match_scores(model, F["validation"]), rows["validation"], groups)
        print(f"stage={stage} trees={model.n_iter_} val_auc={auc:.4f} val_mrr={m['mrr']:.4f}"
              f" val_top1={m['top1']:.4f}", flush=True)

    val = ranking_metrics(match_scores(model, F["validation"]), rows["validation"], groups)
    test = ranking_metrics(match_scores(model, F["test"]), rows["test"], groups)
    # val_top1 and val_mrr of the last stage were just reported; printing them again would count
    # as one more interval of the primary metric.
    print(f"val_top5={val['top5']:.4f}")
    print(f"test_top1={test['top1']:.4f} test_top5={test['top5']:.4f} test_mrr={test['mrr']:.4f}")

    os.makedirs(args.out, exist_ok=True)
    table = [{"id": e["id"], "question": e["question"], "source": e["source"]} for e in entries]
    with open(os.path.join(args.out, "model.pkl"), "wb") as f:
        pickle.dump({"featurizer": feat, "booster": model, "entries": table, "answers": answers,
                     "params": vars(args)}, f)
    for name in ("score.py", "faq_features.py"):
        shutil.copy(os.path.join(HERE, name), os.path.join(args.out, name))
    with open(os.path.join(args.out, "overdrive-model.json"), "w") as f:
        json.dump({"kind": "scoring_script", "entry": "score.py"}, f)
    print(f"model saved to {args.out}/ in total_s={time.time() - t0:.1f}")


if __name__ == "__main__":
    sys.exit(main())
