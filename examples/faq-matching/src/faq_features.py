"""Shared by train.py, the baseline and the saved model's score.py: data loading, the features of a
(question, candidate answer) pair, and the ranking metrics.

A query is scored against every answer at once: each feature is a (queries x answers) matrix, so
ranking 120 questions against all ~590 answers is a handful of sparse products, not a Python loop.
"""
import json
import os
import re

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

SOURCES = ("perl", "python", "debian")
TOKEN = re.compile(r"[a-z0-9_]+")


def default_data_dir():
    return os.environ.get("OVERDRIVE_DATA_DIR") or os.path.expanduser("~/.cache/overdrive/faq")


def load_data(data_dir=None):
    """The entries and the split, preparing them from the fetched FAQs when they are missing."""
    data_dir = data_dir or default_data_dir()
    data, split = os.path.join(data_dir, "data.jsonl"), os.path.join(data_dir, "split.json")
    if not (os.path.exists(data) and os.path.exists(split)):
        import prepare_data  # same folder; only needed the first time
        prepare_data.prepare(data_dir)
    with open(data, encoding="utf-8") as f:
        entries = [json.loads(line) for line in f]
    with open(split, encoding="utf-8") as f:
        split = json.load(f)
    return entries, split


def same_question_groups(entries):
    """For each entry, the indices of all entries asking the very same question (itself included):
    "What is Python?" is asked twice with different answers, and either answer is right."""
    by_text = {}
    for i, e in enumerate(entries):
        by_text.setdefault(e["question"].strip().lower(), []).append(i)
    return [by_text[e["question"].strip().lower()] for e in entries]


def rank_of_correct(scores, query_rows, groups):
    """1-based rank of the best correct answer for each query; ties count against it."""
    ranks = np.empty(len(query_rows), dtype=np.int64)
    for k, q in enumerate(query_rows):
        row = scores[k]
        correct = groups[q]
        best = row[correct].max()
        wrong = np.ones(row.shape[0], dtype=bool)
        wrong[correct] = False
        ranks[k] = 1 + int(np.count_nonzero(row[wrong] >= best))
    return ranks


def ranking_metrics(scores, query_rows, groups):
    ranks = rank_of_correct(scores, query_rows, groups)
    return {"top1": float(np.mean(ranks == 1)), "top5": float(np.mean(ranks <= 5)),
            "mrr": float(np.mean(1.0 / ranks))}


SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "s", "ly")


def _stem(word):
    """A crude suffix stripper: "sorting", "sorted", "sorts" -> "sort". No stemmer ships with
    scikit-learn, and this is enough to match a question's wording with an answer's."""
    for suffix in SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[:-len(suffix)]
    return word


def stemmed_words(text):
    return [_stem(t) for t in TOKEN.findall(text.lower()) if t not in ENGLISH_STOP_WORDS]


def _z(m):
    return (m - m.mean(axis=1, keepdims=True)) / (m.std(axis=1, keepdims=True) + 1e-9)


def _tokens(text):
    return TOKEN.findall(text.lower())


def _cosine(a, b):
    """Dense (rows of a) x (rows of b) cosine matrix of two L2-normalised sparse matrices."""
    return np.asarray((a @ b.T).todense(), dtype=np.float32)


def _within_query(m):
    """Each query's scores relative to its own best, and as a z-score over all answers: a pointwise
    model then sees how a candidate compares with the other candidates for the same question."""
    gap = m - m.max(axis=1, keepdims=True)
    z = _z(m)
    # Rank 0 is the query's best candidate.
    rank = np.argsort(np.argsort(-m, axis=1, kind="stable"), axis=1).astype(np.float32)
    return [gap, z, np.log1p(rank)]


class PairFeaturizer:
    """Fitted on the answers (the candidates, known at serving time) and, for the source prior, on
    the training questions. transform(questions) -> (len(questions), n_answers, n_features)."""

    def __init__(self, ngram_max=2, min_df=1, sublinear_tf=True, char_ngrams=True, lsa_dims=100,
                 head_words=40, bm25_k1=1.2, bm25_b=0.75, seed=0):
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.char_ngrams = char_ngrams
        self.lsa_dims = lsa_dims
        self.head_words = head_words
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.seed = seed

    def fit(self, answers, answer_sources, train_questions=None, train_sources=None):
        self.word = TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=self.min_df,
                                    sublinear_tf=self.sublinear_tf, stop_words="english")
        self.A_word = self.word.fit_transform(answers)
        head = [" ".join(a.split()[:self.head_words]) for a in answers]
        self.A_head = normalize(self.word.transform(head))
        self.stem = TfidfVectorizer(analyzer=stemmed_words, min_df=self.min_df, sublinear_tf=self.sublinear_tf)
        self.A_stem = self.stem.fit_transform(answers)
        if self.char_ngrams:
            self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2,
                                        sublinear_tf=True, max_features=60000)
            self.A_char = self.char.fit_transform(answers)
            self.A_char_head = normalize(self.char.transform(head))
        # LSA over the stemmed words (a small vocabulary keeps the saved components small).
        dims = min(self.lsa_dims, self.A_stem.shape[0] - 1, self.A_stem.shape[1] - 1)
        self.lsa = TruncatedSVD(n_components=dims, random_state=self.seed)
        self.A_lsa = normalize(self.lsa.fit_transform(self.A_stem)).astype(np.float32)
        self.lsa.components_ = self.lsa.components_.astype(np.float32)

        # BM25 over unigram counts.
        self.counter = CountVectorizer(token_pattern=r"[a-z0-9_]+", lowercase=True)
        tf = self.counter.fit_transform(answers).tocsr().astype(np.float32)
        n = tf.shape[0]
        df = np.bincount(tf.indices, minlength=tf.shape[1])
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        norm = self.bm25_k1 * (1 - self.bm25_b + self.bm25_b * lengths / lengths.mean())
        tf = tf.tocoo()
        sat = tf.data * (self.bm25_k1 + 1) / (tf.data + norm[tf.row])
        from scipy.sparse import csr_matrix
        self.A_bm25 = csr_matrix((sat, (tf.row, tf.col)), shape=tf.shape)
        self.A_len = np.log1p(lengths).astype(np.float32)
        self.A_sets = [set(_tokens(a)) - ENGLISH_STOP_WORDS for a in answers]

        # Which FAQ a question is about: a small classifier over the question's words, so that
        # "How do I install a package?" prefers Debian's answers over Perl's.
        self.sources = np.array([SOURCES.index(s) for s in answer_sources])
        self.source_clf = None
        if train_questions:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            self.source_clf = make_pipeline(
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                LogisticRegression(C=10.0, max_iter=2000))
            self.source_clf.fit(train_questions, [SOURCES.index(s) for s in train_sources])
        # Vectorizers keep every term min_df/max_features cut (stop_words_), tens of MB for the
        # character n-grams; transform() never needs them, so the saved model leaves them out.
        for v in (self.word, self.stem, getattr(self, "char", None)):
            if v is not None and hasattr(v, "stop_words_"):
                del v.stop_words_
        return self

    def source_probabilities(self, questions):
        if self.source_clf is None:
            return np.full((len(questions), len(SOURCES)), 1.0 / len(SOURCES), dtype=np.float32)
        proba = np.zeros((len(questions), len(SOURCES)), dtype=np.float32)
        proba[:, self.source_clf.classes_] = self.source_clf.predict_proba(questions)
        return proba

    def transform(self, questions, source_proba=None):
        Q_word = self.word.transform(questions)
        Q_stem = self.stem.transform(questions)
        sims = [_cosine(Q_word, self.A_word), _cosine(Q_word, self.A_head), _cosine(Q_stem, self.A_stem),
                np.asarray(normalize(self.lsa.transform(Q_stem)) @ self.A_lsa.T, dtype=np.float32)]
        if self.char_ngrams:
            Q_char = self.char.transform(questions)
            sims += [_cosine(Q_char, self.A_char), _cosine(Q_char, self.A_char_head)]
        q_counts = self.counter.transform(questions)
        q_counts.data[:] = 1
        q_weighted = q_counts.multiply(self.idf).tocsr()
        bm25 = np.asarray((q_weighted @ self.A_bm25.T).todense(), dtype=np.float32)
        sims.append(bm25)
        # An untrained ranker on its own (z-scores of the strongest signals summed): the booster
        # starts from it and learns the corrections.
        sims.append(_z(sims[0]) + _z(bm25) + (_z(sims[4]) if self.char_ngrams else 0))

        feats = []
        for m in sims:
            feats.append(m)
            feats.extend(_within_query(m))
        n_q, n_a = len(questions), self.A_word.shape[0]
        # Word overlap: how many of the question's content words the answer has, and what share.
        overlap = np.zeros((n_q, n_a), dtype=np.float32)
        q_len = np.zeros((n_q, 1), dtype=np.float32)
        for i, q in enumerate(questions):
            qs = set(_tokens(q)) - ENGLISH_STOP_WORDS
            q_len[i] = len(qs)
            if qs:
                overlap[i] = [len(qs & s) for s in self.A_sets]
        feats.append(overlap)
        feats.append(overlap / np.maximum(q_len, 1))
        feats.append(np.broadcast_to(q_len, (n_q, n_a)))
        feats.append(np.broadcast_to(self.A_len[None, :], (n_q, n_a)))
        if source_proba is None:
            source_proba = self.source_probabilities(questions)
        feats.append(source_proba[:, self.sources])
        return np.stack(feats, axis=2)

    def monotonic_constraints(self):
        """+1 where a higher value can only make a match likelier (every similarity, its gap to the
        best and its z-score), -1 for the rank among candidates, 0 for lengths. Constraining the
        booster this way keeps it from memorising the ~350 training questions."""
        n_sims = 6 + 2 * int(self.char_ngrams)
        return [1, 1, 1, -1] * n_sims + [1, 1, 0, 0, 1]


def match_scores(booster, features):
    """(queries x answers) ranking scores: the booster's log-odds, ties (trees give piecewise-constant
    scores) broken by the untrained combined similarity."""
    n_q, n_a, n_f = features.shape
    logit = booster.decision_function(features.reshape(-1, n_f)).reshape(n_q, n_a)
    combined = features[:, :, n_f - 5 - 4]
    return logit + 1e-6 * combined
