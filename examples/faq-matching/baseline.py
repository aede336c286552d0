"""The baseline to beat, measured on the same data and split as train.py: no training, rank all
answers by the TF-IDF cosine of question and answer (unigrams, fitted on the answers), and by BM25.

    /usr/bin/python3 baseline.py [--data-dir DIR]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
from faq_features import default_data_dir, load_data, ranking_metrics, same_question_groups  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402


def bm25_scores(questions, answers, k1=1.2, b=0.75):
    from sklearn.feature_extraction.text import CountVectorizer
    cv = CountVectorizer()
    tf = cv.fit_transform(answers).astype(np.float64).tocsr()
    df = np.bincount(tf.indices, minlength=tf.shape[1])
    idf = np.log(1 + (tf.shape[0] - df + 0.5) / (df + 0.5))
    lengths = np.asarray(tf.sum(axis=1)).ravel()
    tf = tf.tocoo()
    norm = k1 * (1 - b + b * lengths / lengths.mean())
    tf.data = tf.data * (k1 + 1) / (tf.data + norm[tf.row])
    q = cv.transform(questions)
    q.data[:] = 1
    return np.asarray((q.multiply(idf) @ tf.tocsr().T).todense())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=default_data_dir())
    args = ap.parse_args()
    entries, split = load_data(args.data_dir)
    index = {e["id"]: i for i, e in enumerate(entries)}
    groups = same_question_groups(entries)
    answers = [e["answer"] for e in entries]
    vec = TfidfVectorizer()
    A = vec.fit_transform(answers)
    print(f"entries={len(entries)} (every question is ranked against all {len(entries)} answers)")
    for part in ("validation", "test"):
        rows = [index[i] for i in split[part]]
        questions = [entries[r]["question"] for r in rows]
        cosine = np.asarray((vec.transform(questions) @ A.T).todense())
        m = ranking_metrics(cosine, rows, groups)
        print(f"baseline_tfidf {part}: top1={m['top1']:.3f} top5={m['top5']:.3f} mrr={m['mrr']:.3f}"
              f" (n={len(rows)})")
        m = ranking_metrics(bm25_scores(questions, answers), rows, groups)
        print(f"baseline_bm25  {part}: top1={m['top1']:.3f} top5={m['top5']:.3f} mrr={m['mrr']:.3f}")
    rows = list(range(len(entries)))
    cosine = np.asarray((vec.transform([e["question"] for e in entries]) @ A.T).todense())
    m = ranking_metrics(cosine, rows, groups)
    print(f"baseline_tfidf all {len(rows)} questions: top1={m['top1']:.3f} top5={m['top5']:.3f}"
          f" mrr={m['mrr']:.3f}")


if __name__ == "__main__":
    main()
