"""The 20-topic legal classifier: logistic regression over sentence embeddings and TF-IDF
weighted character n-grams. Weights are stored as ``.npz`` arrays plus a JSON manifest (no
pickle); the loader refuses a model trained with another embedder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bot.domain import TOPICS, TopicPrediction, TopicScore
from bot.errors import IndexMismatchError
from bot.retrieval.embedding import Embedder

N_HASH = 2**16


def _hasher():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb", ngram_range=(1, 3), n_features=N_HASH, alternate_sign=False, norm=None, lowercase=True
    )


def read_examples(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["text"], r["label"]) for r in rows]


@dataclass
class TopicClassifier:
    """Predicts a probability for every topic; ``confident`` is False when it is unsure."""

    embedder: Embedder
    idf: np.ndarray
    coef: np.ndarray  # (n_labels, dim + N_HASH)
    intercept: np.ndarray
    labels: tuple[str, ...] = TOPICS
    min_confidence: float = 0.40

    def _features(self, texts: Sequence[str]):
        from scipy import sparse
        from sklearn.preprocessing import normalize

        grams = normalize(_hasher().transform(texts).multiply(self.idf).tocsr())
        dense = self.embedder.encode(texts, kind="query")
        return sparse.hstack([sparse.csr_matrix(dense), grams]).tocsr()

    @cached_property
    def _coef_t(self) -> np.ndarray:
        # C-ordered and float32 like the features ``predict`` passes: otherwise every call copies
        # (and upcasts) all 65,920 x 20 weights, 2.3 ms a question instead of 0.7 on an idle machine.
        return np.ascontiguousarray(self.coef.T, dtype=np.float32)

    def predict(self, texts: Sequence[str]) -> list[TopicPrediction]:
        if not texts:
            return []
        logits = self._features(texts).astype(np.float32) @ self._coef_t + self.intercept
        logits = np.asarray(logits)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        out = []
        for row in probs:
            order = np.argsort(-row)
            scores = tuple(TopicScore(self.labels[i], float(row[i])) for i in order)
            out.append(TopicPrediction(scores, confident=scores[0].score >= self.min_confidence))
        return out

    # ---- training and persistence -------------------------------------------------------
    @classmethod
    def train(cls, examples: Sequence[tuple[str, str]], embedder: Embedder, c: float = 8.0) -> TopicClassifier:
        from sklearn.linear_model import LogisticRegression

        texts = [t for t, _ in examples]
        y = np.array([TOPICS.index(label) for _, label in examples])
        counts = _hasher().transform(texts)
        df = np.asarray((counts > 0).sum(axis=0)).ravel()
        idf = (np.log((1 + len(texts)) / (1 + df)) + 1.0).astype(np.float32)
        model = cls(embedder, idf, np.zeros((len(TOPICS), 1)), np.zeros(len(TOPICS)))
        features = model._features(texts)
        lr = LogisticRegression(C=c, max_iter=3000)
        lr.fit(features, y)
        coef = np.zeros((len(TOPICS), features.shape[1]), dtype=np.float32)
        intercept = np.zeros(len(TOPICS), dtype=np.float32)
        coef[lr.classes_] = lr.coef_
        intercept[lr.classes_] = lr.intercept_
        missing = set(range(len(TOPICS))) - set(lr.classes_.tolist())
        intercept[list(missing)] = -1e4  # a topic without examples is never predicted
        return cls(embedder, idf, coef, intercept)

    def save(self, folder: Path, train_size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "weights.npz", coef=self.coef, intercept=self.intercept, idf=self.idf)
        manifest = {
            "embedding_model": self.embedder.name,
            "labels": list(self.labels),
            "n_hash": N_HASH,
            "min_confidence": self.min_confidence,
            "train_examples": train_size,
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, embedder: Embedder) -> TopicClassifier:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if manifest["embedding_model"] != embedder.name:
            raise IndexMismatchError(
                f"topic model was trained with {manifest['embedding_model']!r}, "
                f"not {embedder.name!r}; run `legal-triage topics train`"
            )
        weights = np.load(folder / "weights.npz", allow_pickle=False)
        return cls(
            embedder,
            weights["idf"],
            weights["coef"],
            weights["intercept"],
            tuple(manifest["labels"]),
            manifest["min_confidence"],
        )


def evaluate(model: TopicClassifier, examples: Sequence[tuple[str, str]]) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: truth, columns: prediction)."""
    labels = list(model.labels)
    truth = [labels.index(label) for _, label in examples]
    predictions = model.predict([t for t, _ in examples])
    preds = [labels.index(p.best.label) for p in predictions]
    right = np.array([t == p for t, p in zip(truth, preds)], dtype=bool)
    sure = np.array([p.confident for p in predictions], dtype=bool)
    n = len(labels)
    matrix = np.zeros((n, n), dtype=int)
    for t, p in zip(truth, preds):
        matrix[t, p] += 1
    f1s = []
    for i in range(n):
        tp = matrix[i, i]
        prec = tp / matrix[:, i].sum() if matrix[:, i].sum() else 0.0
        rec = tp / matrix[i].sum() if matrix[i].sum() else 0.0
        if matrix[i].sum():
            f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return {
        "accuracy": float(np.trace(matrix) / max(1, len(examples))),
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "labels": labels,
        "confusion": matrix.tolist(),
        "n": len(examples),
        # Does "unsure" mean something? Accuracy of the predictions it is sure and unsure about.
        "confident_share": float(sure.mean()) if len(sure) else 0.0,
        "confident_accuracy": float(right[sure].mean()) if sure.any() else 0.0,
        "unsure_accuracy": float(right[~sure].mean()) if (~sure).any() else 0.0,
    }
