"""Experiment: a learned second stage over the FAQ's first-stage candidates (issue "Answers that fit").

Training data is our own FAQ only: two narrative paraphrases per entry are held out of a training
index and used as queries against it; the candidates the first stage returns for them, with their
scores and ranks as features, train a classifier "is this the entry". It is then applied to the
real-style dev split on the production index, and compared with the first stage's own ranking.
Run: PYTHONPATH=. .venv/app/bin/python tools/ltr_experiment.py
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from bot.composition import load_embedder
from bot.domain import FaqHit
from bot.retrieval import evaluation
from bot.retrieval.faq import FaqIndex, FaqRetriever
from bot.retrieval.vector_index import build_vector_index
from bot.settings import get_settings

K = 20


def features(hits: list[FaqHit]) -> np.ndarray:
    s = np.array([h.score for h in hits], dtype=np.float32)
    d = np.array([h.dense for h in hits], dtype=np.float32)
    lx = np.array([h.lexical for h in hits], dtype=np.float32)
    rank = np.arange(1, len(hits) + 1, dtype=np.float32)
    d_rank = np.empty(len(hits), np.float32)
    d_rank[np.argsort(-d)] = rank
    l_rank = np.empty(len(hits), np.float32)
    l_rank[np.argsort(-lx)] = rank
    return np.stack(
        [s, d, lx, np.log(rank), s - s[0], d - d.max(), lx - lx.max(), np.log(d_rank), np.log(l_rank),
         np.full_like(s, s[0] - (s[1] if len(s) > 1 else 0))],
        axis=1,
    )


def main() -> None:
    settings = get_settings()
    embedder = load_embedder(settings)
    index = FaqRetriever(settings.faq_index_dir, embedder).index
    n = len(index.row_texts)
    vectors = index._faiss.reconstruct_n(0, n)
    held: list[int] = []
    for e in range(len(index.entries)):
        rows = [r for r in np.flatnonzero(index.row_entry == e) if 40 <= len(index.row_texts[r]) <= 120]
        held.extend(rows[-2:])
    keep = np.setdiff1d(np.arange(n), held)
    train_index = FaqIndex(index.entries, index.row_entry[keep], [index.row_texts[i] for i in keep],
                           build_vector_index(vectors[keep]), index.model_name, index.kb_version)
    X, y, groups = [], [], []
    for g, r in enumerate(held):
        hits = train_index.search(vectors[r], index.row_texts[r], K)
        want = index.entries[index.row_entry[r]].id
        X.append(features(hits))
        y.append(np.array([h.entry.id == want for h in hits]))
        groups.append(np.full(len(hits), g))
    X, y = np.concatenate(X), np.concatenate(y)
    base_rank1 = np.mean([yy[0] for yy in np.split(y, np.cumsum([len(f) for f in np.split(X, np.unique(np.concatenate(groups), return_index=True)[1][1:])]))[:-1]])
    print(f"training queries {len(held)}, candidates {len(X)}, positives {int(y.sum())}, first-stage rank1 on them {base_rank1:.3f}")

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    models = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
    }
    t0 = time.time()
    for m in models.values():
        m.fit(X, y)
    print(f"trained in {time.time() - t0:.1f}s")

    questions = evaluation.read_questions(settings.knowledge_base_dir, "dev")
    first = []
    reranked = {name: [] for name in models}
    reranked.update({f"{name}_order_only": [] for name in models})
    for q in questions:
        v = embedder.encode([q.query], kind="query")[0]
        hits = index.search(v, q.query, K)
        first.append(evaluation.Judged(q, tuple(hits[:10]), index.decide(hits[:10])))
        f = features(hits)
        for name, m in models.items():
            p = m.predict_proba(f)[:, 1]
            order = np.argsort(-p)
            new = [dataclasses.replace(hits[i], score=float(p[i])) for i in order][:10]
            reranked[name].append(evaluation.Judged(q, tuple(new), index.decide(new)))
            # the learned order, decided on the first stage's own (calibrated) fused scores
            kept = [hits[i] for i in order][:10]
            reranked[f"{name}_order_only"].append(evaluation.Judged(q, tuple(kept), index.decide(kept)))
    out = {"first_stage": evaluation.figures(first)}
    for name, judged in reranked.items():
        chosen = evaluation.choose_thresholds(judged, index.thresholds)
        out[name] = {"thresholds": dataclasses.asdict(chosen), **evaluation.figures(evaluation.redecide(judged, chosen))}
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
