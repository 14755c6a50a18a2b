"""Choose statute-search fusion weights on the development questions (knowledge_base/dev/laws_dev.jsonl).

The evaluation questions (knowledge_base/eval/laws_eval.jsonl) are never looked at here; `make bench`
reports on them with whatever weights this picks. Run: .venv/app/bin/python tools/tune_statute_weights.py
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np

from bot.composition import load_embedder, load_statute_search
from bot.settings import get_settings


def main() -> None:
    settings = get_settings()
    search = load_statute_search(settings, load_embedder(settings))
    index = search.index
    rows = [
        json.loads(line)
        for line in (settings.knowledge_base_dir / "dev" / "laws_dev.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    position = {(a.law, a.number): i for i, a in enumerate(index.articles)}
    parts = []
    for row in rows:
        query = row["query"]
        vector = search._embedder.encode([query], kind="query")[0]
        dense = index.articles_dense(vector)
        lexical = np.clip(index._bm25.normalised_scores(query), 0.0, 1.0)
        faq = index._faq_scores(search._faq.search(query, k=index.weights.faq_hits))
        named = index._named_laws(query)
        relevant = [position[(a["law"], a["article"])] for a in row["articles"] if (a["law"], a["article"]) in position]
        parts.append((dense, lexical, faq, named, relevant))

    def score(w) -> tuple[float, float]:
        mrr = hits = 0.0
        for dense, lexical, faq, named, relevant in parts:
            scaled = np.clip((dense - w.dense_floor) / (w.dense_ceiling - w.dense_floor), 0.0, 1.0)
            fused = w.dense * scaled + w.lexical * lexical + w.faq * faq + w.law_bonus * named
            top = list(np.argsort(-fused)[:10])
            rank = next((top.index(r) + 1 for r in top if r in relevant), None)
            hits += rank is not None
            mrr += 1 / rank if rank else 0.0
        return mrr / len(parts), hits / len(parts)

    base = index.weights
    print("current", base, "mrr@10 %.4f hit@10 %.4f" % score(base))
    best = (score(base), base)
    for d, l, f, floor, ceil, bonus in itertools.product(
        (0.3, 0.4, 0.5, 0.6),
        (0.1, 0.2, 0.3),
        (0.2, 0.35, 0.5),
        (0.74, 0.78, 0.82),
        (0.90, 0.92, 0.95),
        (0.05, 0.15, 0.3),
    ):
        w = replace(base, dense=d, lexical=l, faq=f, dense_floor=floor, dense_ceiling=ceil, law_bonus=bonus)
        result = score(w)
        if result > best[0]:
            best = (result, w)
    print("best   ", best[1], "mrr@10 %.4f hit@10 %.4f" % best[0])


if __name__ == "__main__":
    main()
