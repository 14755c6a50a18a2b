"""The FAQ's second stage: trained at build on held-out narratives, saved with the index, order only."""

from __future__ import annotations

import json

import numpy as np

from bot.knowledge.kb import KnowledgeBase
from bot.retrieval import rerank
from bot.retrieval.faq import FaqIndex, FaqRetriever
from bot.retrieval.vector_index import current_version


def test_a_built_index_carries_its_second_stage_through_save_and_load(fake_index_root, fake_embedder):
    folder = fake_index_root / current_version(fake_index_root)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["second_stage"] == rerank.SECOND_STAGE and (folder / rerank.FILE).exists()
    loaded = FaqRetriever(fake_index_root, fake_embedder).index.reranker
    assert loaded is not None and loaded.coef.shape == (len(rerank.FEATURE_NAMES),)
    assert np.all(np.isfinite(loaded.coef)) and np.all(loaded.scale > 0)


def test_the_second_stage_only_reorders_the_first_stages_candidates(fake_index_root, fake_embedder, knowledge):
    index = FaqRetriever(fake_index_root, fake_embedder).index
    question = knowledge.entries[5].paraphrases[-1]
    vector = fake_embedder.encode([question])[0]
    first = index.search(vector, question, rerank.CANDIDATES, rerank=False)
    second = index.search(vector, question, rerank.CANDIDATES)
    assert sorted(h.entry.id for h in first) == sorted(h.entry.id for h in second)
    assert {h.entry.id: h.score for h in first} == {h.entry.id: h.score for h in second}  # scores untouched


def test_no_second_stage_without_enough_narratives_to_learn_from(knowledge, fake_embedder):
    small = KnowledgeBase(knowledge.entries[:10])
    assert FaqIndex.build(small, fake_embedder).reranker is None
