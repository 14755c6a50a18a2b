"""The FAQ's second stage: a learned order over the first stage's candidates.

The first stage (dense E5 + character BM25, fused) ranks well but its one fused score weighs the two
signals the same way for every question. The second stage is a logistic regression over features of
each of the top ``CANDIDATES`` entries: the fused, dense and lexical scores, their ranks and their
gaps to the best candidate. It changes only the order; the decision (direct answer, choices,
handoff) stays on the first stage's fused score, which the thresholds are calibrated on.

It is trained at ``kb build`` on our own FAQ only: two narrative paraphrases of every entry are held
out of a copy of the index and asked against it; each candidate the first stage returns is an example,
labelled by whether it is the entry the paraphrase belongs to. The row vectors are the query vectors
(rows are embedded as queries), so training embeds nothing. On the real-style dev split it moved rank 1
from 0.887 to 0.902 and top 3 from 0.981 to 0.985 (README, "Answering real questions").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.domain import FaqHit

if TYPE_CHECKING:  # pragma: no cover
    from bot.retrieval.faq import FaqIndex

#: How many first-stage candidates the second stage reorders.
CANDIDATES = 20
#: Narrative paraphrases (in characters) held out per entry to train on, and how many.
NARRATIVE_CHARS = (40, 120)
HELD_OUT_PER_ENTRY = 2
FILE = "reranker.json"
#: Names this second stage in the index manifest: `kb build` rebuilds an index made without it.
SECOND_STAGE = "logreg-top20-v1"


#: The columns of ``features``.
FEATURE_NAMES = (
    "fused",
    "dense",
    "lexical",
    "log_rank",
    "fused_gap",
    "dense_gap",
    "lexical_gap",
    "log_dense_rank",
    "log_lexical_rank",
    "top_margin",
)


def features(hits: Sequence[FaqHit]) -> np.ndarray:
    """One row per candidate (columns ``FEATURE_NAMES``), in the first stage's order."""
    s = np.array([h.score for h in hits], dtype=np.float64)
    d = np.array([h.dense for h in hits], dtype=np.float64)
    lx = np.array([h.lexical for h in hits], dtype=np.float64)
    rank = np.arange(1, len(hits) + 1, dtype=np.float64)
    d_rank = np.empty(len(hits))
    d_rank[np.argsort(-d, kind="stable")] = rank
    l_rank = np.empty(len(hits))
    l_rank[np.argsort(-lx, kind="stable")] = rank
    gap = s[0] - (s[1] if len(s) > 1 else 0.0)
    return np.stack(
        [
            s,
            d,
            lx,
            np.log(rank),
            s - s[0],
            d - d.max(),
            lx - lx.max(),
            np.log(d_rank),
            np.log(l_rank),
            np.full_like(s, gap),
        ],
        axis=1,
    )


@dataclass(frozen=True)
class Reranker:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def scores(self, hits: Sequence[FaqHit]) -> np.ndarray:
        return ((features(hits) - self.mean) / self.scale) @ self.coef + self.intercept

    def order(self, hits: Sequence[FaqHit]) -> list[FaqHit]:
        """The same hits (with their first-stage scores), best first by the learned score."""
        if len(hits) < 2:
            return list(hits)
        return [hits[i] for i in np.argsort(-self.scores(hits), kind="stable")]

    def save(self, folder: Path) -> None:
        data = {k: getattr(self, k).tolist() for k in ("mean", "scale", "coef")}
        (folder / FILE).write_text(json.dumps({**data, "intercept": self.intercept}), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Reranker | None:
        path = folder / FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        arrays = {k: np.array(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")}
        return cls(**arrays, intercept=float(data["intercept"]))


def train(index: FaqIndex, vectors: np.ndarray, min_queries: int = 50) -> Reranker | None:
    """Train on held-out narrative paraphrases of ``index`` (its row ``vectors``); None when the FAQ
    has too few of them to learn from."""
    from sklearn.linear_model import LogisticRegression

    from bot.retrieval.faq import FaqIndex
    from bot.retrieval.vector_index import build_vector_index

    low, high = NARRATIVE_CHARS
    held: list[int] = []
    for e in range(len(index.entries)):
        rows = [int(r) for r in np.flatnonzero(index.row_entry == e) if low <= len(index.row_texts[r]) <= high]
        held.extend(rows[-HELD_OUT_PER_ENTRY:])
    if len(held) < min_queries:
        return None
    keep = np.setdiff1d(np.arange(len(index.row_texts)), held)
    reduced = FaqIndex(
        index.entries,
        index.row_entry[keep],
        [index.row_texts[i] for i in keep],
        build_vector_index(np.ascontiguousarray(vectors[keep])),
        index.model_name,
        index.kb_version,
        index.thresholds,
    )
    xs, ys = [], []
    for r in held:
        hits = reduced.search(vectors[r], index.row_texts[r], CANDIDATES, rerank=False)
        want = index.entries[index.row_entry[r]].id
        xs.append(features(hits))
        ys.append([h.entry.id == want for h in hits])
    x, y = np.concatenate(xs), np.concatenate(ys)
    if y.all() or not y.any():
        return None
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    return Reranker(mean, scale, model.coef_[0], float(model.intercept_[0]))
