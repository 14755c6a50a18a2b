import json

import faiss
import numpy as np
import pytest

from bench.scale import recall_at_k
from bot.retrieval import vector_index
from bot.retrieval.embedding import HashingEmbedder
from bot.retrieval.faq import FaqIndex
from bot.retrieval.statutes import StatuteIndex, library_fingerprint
from bot.retrieval.vector_index import build_vector_index, choose_kind, current_version, index_kind


def clustered_unit_vectors(
    n: int, dim: int = 64, clusters: int = 40, spread: float = 0.35, seed: int = 0
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(data: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    return np.argsort(-(queries @ data.T), axis=1)[:, :k]


@pytest.fixture(scope="module")
def _points() -> np.ndarray:
    return clustered_unit_vectors(4200)


@pytest.fixture(scope="module")
def data(_points) -> np.ndarray:
    return _points[:4000]


@pytest.fixture(scope="module")
def queries(_points) -> np.ndarray:
    """Held-out points from the same clusters."""
    return _points[4000:]


def test_auto_keeps_todays_sizes_exact_and_approximates_large_ones():
    assert vector_index.FLAT_MAX_ROWS >= 10_000  # today's ~2,500 FAQ rows and 3,745 articles stay flat
    assert choose_kind(2_500) == choose_kind(3_745) == "flat"
    assert choose_kind(1_000_000) == vector_index.APPROXIMATE_KIND != "flat"


def test_auto_picks_flat_below_the_threshold_and_approximate_above(data):
    assert index_kind(build_vector_index(data[:500], flat_max_rows=1000)) == "flat"
    assert index_kind(build_vector_index(data[:2000], flat_max_rows=1000)) == vector_index.APPROXIMATE_KIND
    assert index_kind(build_vector_index(data[:2000], flat_max_rows=1000, approximate="ivf")) == "ivf"
    assert index_kind(build_vector_index(data[:2000], flat_max_rows=1000, approximate="hnsw")) == "hnsw"


def test_the_threshold_is_read_when_called(data, monkeypatch):
    monkeypatch.setattr(vector_index, "FLAT_MAX_ROWS", 100)
    assert index_kind(build_vector_index(data[:200])) == vector_index.APPROXIMATE_KIND


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_against_exact(data, queries, kind):
    exact = exact_top(data, queries)
    flat_sims, flat_ids = build_vector_index(data, "flat").search(queries, 10)
    assert recall_at_k(flat_ids, exact) > 0.99  # the reference itself is exact
    index = build_vector_index(data, kind)
    sims, ids = index.search(queries, 10)
    assert recall_at_k(ids, exact) >= 0.9
    # scores are inner products (largest first), as with flat search
    assert np.all(np.diff(sims, axis=1) <= 1e-6)
    np.testing.assert_allclose(sims[:, 0], flat_sims[:, 0], atol=1e-4)


@pytest.mark.parametrize(
    "kind,starved",
    [("hnsw", {"hnsw_m": 4, "ef_construction": 10, "ef_search": 10}), ("ivf", {"nlist": 64, "nprobe": 1})],
)
def test_a_starved_search_setting_loses_recall(data, queries, kind, starved):
    """The recall test can fail: a tiny graph or candidate list misses neighbours."""
    exact = exact_top(data, queries)
    _, ids = build_vector_index(data, kind, **starved).search(queries, 10)
    assert recall_at_k(ids, exact) < 0.9


@pytest.mark.parametrize("kind,setting", [("hnsw", "efSearch"), ("ivf", "nprobe")])
def test_search_setting_survives_write_and_read(tmp_path, data, queries, kind, setting):
    index = build_vector_index(data, kind, ef_search=77, nprobe=7)
    path = tmp_path / "index.faiss"
    faiss.write_index(index, str(path))
    loaded = faiss.read_index(str(path))
    assert index_kind(loaded) == kind
    assert vector_index.search_parameters(loaded)[setting] == (7 if kind == "ivf" else 77)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])


def test_default_build_stores_the_tuned_setting(tmp_path, data):
    path = tmp_path / "index.faiss"
    faiss.write_index(build_vector_index(data, "hnsw"), str(path))
    assert vector_index.search_parameters(faiss.read_index(str(path)))["efSearch"] == vector_index.HNSW_EF_SEARCH
    faiss.write_index(build_vector_index(data, "ivf"), str(path))
    params = vector_index.search_parameters(faiss.read_index(str(path)))
    assert params["nprobe"] == min(vector_index.IVF_NPROBE, params["nlist"])


def test_faq_manifest_records_the_index_kind(tmp_path, knowledge):
    folder = FaqIndex.build(knowledge, HashingEmbedder()).save(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["index"] == "flat"


def test_an_approximate_faq_index_round_trips(tmp_path, knowledge, monkeypatch):
    monkeypatch.setattr(vector_index, "FLAT_MAX_ROWS", 100)
    embedder = HashingEmbedder()
    folder = FaqIndex.build(knowledge, embedder).save(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["index"] == vector_index.APPROXIMATE_KIND
    loaded = FaqIndex.load(folder, embedder.name)
    entry = knowledge.entries[5]
    assert loaded.search(embedder.encode([entry.question])[0], entry.question)[0].entry.id == entry.id


def test_statute_index_saves_its_vectors_whatever_the_kind(tmp_path, library, monkeypatch):
    monkeypatch.setattr(vector_index, "FLAT_MAX_ROWS", 50)
    articles = list(library)[:300]
    vectors = clustered_unit_vectors(len(articles), dim=32, seed=3)
    index = StatuteIndex(articles, vectors, "test-model", library_fingerprint(library))
    assert index_kind(index._faiss) == vector_index.APPROXIMATE_KIND
    folder = index.save(tmp_path / "statutes")
    assert current_version(tmp_path / "statutes") == folder.name  # published by the pointer swap
    np.testing.assert_array_equal(np.load(folder / "vectors.npy"), vectors)
    loaded = StatuteIndex.load(tmp_path / "statutes", library, "test-model")
    assert [a.number for a in loaded.articles] == [a.number for a in articles]
    dense = loaded.articles_dense(vectors[7], top=5)
    assert dense[7] == pytest.approx(1.0, abs=1e-5)


def test_large_hnsw_indexes_search_wider():
    assert vector_index.hnsw_ef_search(100_000) == vector_index.HNSW_EF_SEARCH
    assert vector_index.hnsw_ef_search(1_000_000) == vector_index.HNSW_EF_SEARCH_LARGE > vector_index.HNSW_EF_SEARCH
