"""Unanswered questions grouped by subject, for the FAQ writers' "未答问题" page.

E5 puts every Chinese question in a narrow cone (cosines 0.83-0.98 for nearly any pair), so grouping by
raw similarity either joins everything or nothing: the greedy grouping at 0.91 this replaced put 98% of
the labelled real-style dev questions into one of 9 groups. Here each question is represented by its
FAQ ranking instead (the first stage's fused scores of its top 10 entries, a vector over the entries),
and groups are formed by average-linkage agglomerative clustering on the cosine of those profiles: two
questions share a group when the FAQ finds the same entries for both. On the labelled dev questions
(README, "Answering real questions") a profile similarity of 0.6 gives groups
of one subject (purity 0.89 by FAQ subtopic; raw E5 at 0.91: 0.31) and none above 1% of the questions
(``tools/cluster_eval.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from bot.domain import UnansweredQuestion
from bot.retrieval.embedding import Embedder
from bot.retrieval.faq import FaqIndex

#: Cosine of two questions' FAQ-ranking profiles at or above which they may share a group.
CLUSTER_SIMILARITY = 0.6
PROFILE_DEPTH = 10


def profiles(texts: Sequence[str], embedder: Embedder, index: FaqIndex) -> np.ndarray:
    """Each text as its FAQ ranking: fused scores of its top entries, unit length (zeros: no hits)."""
    position = {e.id: i for i, e in enumerate(index.entries)}
    out = np.zeros((len(texts), len(index.entries)), dtype=np.float32)
    vectors = embedder.encode(list(texts), kind="query")
    for row, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        for hit in index.search(np.asarray(vector), text, PROFILE_DEPTH, rerank=False):
            out[row, position[hit.entry.id]] = max(hit.score, 1e-6)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def group(vectors: np.ndarray, similarity: float) -> list[list[int]]:
    """Average-linkage groups of unit ``vectors`` (a zero vector stays alone), largest first."""
    from sklearn.cluster import AgglomerativeClustering

    usable = [i for i in range(len(vectors)) if vectors[i].any()]
    groups: list[list[int]] = [[i] for i in range(len(vectors)) if not vectors[i].any()]
    if len(usable) == 1:
        groups.append(usable)
    elif usable:
        labels = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=1.0 - similarity
        ).fit_predict(vectors[usable])
        by_label: dict[int, list[int]] = {}
        for i, label in zip(usable, labels, strict=True):
            by_label.setdefault(int(label), []).append(i)
        groups.extend(by_label.values())
    return sorted(groups, key=len, reverse=True)


def cluster_questions(
    questions: Sequence[UnansweredQuestion], embedder: Embedder, index: FaqIndex, similarity: float = CLUSTER_SIMILARITY
) -> list[dict]:
    """Groups of questions about one subject, largest first, each with its most central question."""
    if not questions:
        return []
    texts = [q.text for q in questions]
    vectors = profiles(texts, embedder, index)
    clusters = []
    for members in group(vectors, similarity):
        centre = vectors[members].mean(axis=0)
        order = sorted(members, key=lambda i: -float(vectors[i] @ centre))
        unique = list(dict.fromkeys(texts[i].strip() for i in order))
        topics = Counter(questions[i].topic for i in members if questions[i].topic)
        clusters.append(
            {
                "count": len(members),
                "ids": [questions[i].id for i in members],
                "central": unique[0],
                "texts": unique,
                "examples": unique[:5],
                "reasons": Counter(questions[i].reason for i in members),
                "topic": topics.most_common(1)[0][0] if topics else "",
            }
        )
    return clusters
