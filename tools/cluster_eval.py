"""Measure the grouping of unanswered questions (bot/services/clustering.py) on the real-style dev split.

Each labelled dev question's subject is its entry's topic/subtopic. The script prints, for the profile
method at several similarities and for raw E5 cosines: the number of groups, purity (share of
questions in their group's majority subject), the largest group's share, and the share in groups of two
or more. Run it with: PYTHONPATH=. .venv/app/bin/python tools/cluster_eval.py
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from bot.composition import load_embedder
from bot.knowledge import kb
from bot.knowledge.laws import StatuteLibrary
from bot.retrieval.evaluation import read_questions
from bot.retrieval.faq import FaqRetriever
from bot.services.clustering import group, profiles
from bot.settings import get_settings


def report(name: str, groups: list[list[int]], labels: list[str]) -> None:
    n = len(labels)
    purity = sum(Counter(labels[i] for i in g).most_common(1)[0][1] for g in groups) / n
    print(json.dumps({
        "method": name, "groups": len(groups), "purity": round(purity, 3),
        "largest_share": round(max(map(len, groups)) / n, 3),
        "in_groups_of_2_or_more": round(sum(len(g) for g in groups if len(g) > 1) / n, 3),
    }))


def main() -> None:
    settings = get_settings()
    subject = {e.id: f"{e.topic}/{e.subtopic}" for e in
               kb.load(settings.knowledge_base_dir / "faq", StatuteLibrary.load(settings.laws_dir)).entries}
    questions = [q for q in read_questions(settings.knowledge_base_dir, "dev") if q.faq_id]
    labels = [subject[q.faq_id] for q in questions]
    embedder = load_embedder(settings)
    texts = [q.query for q in questions]
    raw = np.asarray(embedder.encode(texts, kind="query"), dtype=np.float32)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    for similarity in (0.90, 0.91, 0.92):
        report(f"raw E5 cosine >= {similarity}", group(raw, similarity), labels)
    ranked = profiles(texts, embedder, FaqRetriever(settings.faq_index_dir, embedder).index)
    for similarity in (0.4, 0.5, 0.6, 0.7):
        report(f"FAQ-ranking profile >= {similarity}", group(ranked, similarity), labels)


if __name__ == "__main__":
    main()
