"""Dense-vector indexes for retrieval: exact flat search while small, an approximate index when large.

All vectors are L2-normalised float32 embeddings compared by inner product (= cosine).

``build_vector_index(vectors, kind="auto")`` keeps exact search (``IndexFlatIP``) up to
``FLAT_MAX_ROWS`` rows and builds HNSW above it. Threshold and parameters come from
``python -m bench.scale`` on the 2-core bench machine (E5-small, 384 dimensions, the
1,020 held-out FAQ questions, one query per call on one thread; ``results/retrieval_scale.json``):

* flat search reads every vector (1.5 KB each), so its time is linear in the rows: p50 0.66 ms at
  10k, 1.3 ms at 20k (3 ms for the top 80 that ``FaqIndex.search`` asks for), 12 ms at 100k,
  121 ms at 1M. Up to 20k it is exact and well inside a 5 ms budget, so approximation buys
  nothing there; today's indexes (~2,500 FAQ rows, 3,745 articles) stay flat.
* HNSW (``M=32``, ``efConstruction=64``, ``efSearch=256``): p50 0.43 ms and recall@10 0.992
  against exact at 100k (build 7 s, 172 MB); at 1M recall at a fixed efSearch falls, so above
  ``HNSW_LARGE_ROWS`` it searches with ``efSearch=768``: p50 1.5 ms, recall@10 0.965 (build 93 s,
  1.7 GB).
* IVF-flat (``nlist`` ~ 2 sqrt(n), ``nprobe=32``) also meets the target (100k: 0.75 ms, 0.975;
  1M: 2.2 ms, 0.975) at 15% less memory, but it needs a k-means training step and, at 100k, gives
  less recall per millisecond than HNSW; it stays available as ``kind="ivf"``.

Search-time parameters are stored in the index itself (faiss writes HNSW ``efSearch`` and IVF
``nprobe`` with the index), so an index read back with ``faiss.read_index`` searches with the
setting it was built with; after a re-tuning, ``legal-triage kb build --force`` applies the new one.

faiss is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import faiss

KINDS = ("flat", "hnsw", "ivf")

#: "auto" keeps exact search up to this many rows (flat p50 1.3 ms at 20k, 12 ms at 100k rows).
FLAT_MAX_ROWS = 20_000
#: The approximate kind "auto" chooses above ``FLAT_MAX_ROWS``.
APPROXIMATE_KIND = "hnsw"

#: HNSW: graph degree (links per node on the upper layers, twice that on the base layer).
HNSW_M = 32
#: HNSW: candidate-list size while building; larger builds a better graph, more slowly.
HNSW_EF_CONSTRUCTION = 64
#: HNSW: candidate-list size while searching (faiss uses max(efSearch, k)) ...
HNSW_EF_SEARCH = 256
#: ... and above HNSW_LARGE_ROWS rows, where recall at a fixed efSearch falls (recall@10 at 1M rows:
#: 0.92 with 256, 0.95 with 512, 0.96 with 768 at p50 1.5 ms, 0.98 with 1024 at 2.2 ms). The switch
#: point lies between the measured 100k (0.99 with 256) and 1M.
HNSW_EF_SEARCH_LARGE = 768
HNSW_LARGE_ROWS = 300_000

#: IVF: lists ~ IVF_LISTS_PER_SQRT * sqrt(rows), within [IVF_MIN_LISTS, IVF_MAX_LISTS].
IVF_LISTS_PER_SQRT = 2
IVF_MIN_LISTS = 16
IVF_MAX_LISTS = 8192
#: IVF: k-means is trained on at most this many vectors per list (faiss wants >= 39) ...
IVF_TRAIN_PER_LIST = 40
#: ... for this many iterations (faiss's default is 25; 10 keeps the 1M build near 90 s on 2 cores).
IVF_KMEANS_ITERATIONS = 10
#: IVF: lists scanned per query.
IVF_NPROBE = 32
IVF_SEED = 1234


def choose_kind(n_rows: int, flat_max_rows: int | None = None, approximate: str | None = None) -> str:
    """The kind "auto" builds for ``n_rows`` vectors."""
    limit = FLAT_MAX_ROWS if flat_max_rows is None else flat_max_rows
    return "flat" if n_rows <= limit else (approximate or APPROXIMATE_KIND)


def hnsw_ef_search(n_rows: int) -> int:
    """The HNSW search setting for an index of ``n_rows`` vectors."""
    return HNSW_EF_SEARCH_LARGE if n_rows > HNSW_LARGE_ROWS else HNSW_EF_SEARCH


def ivf_lists(n_rows: int) -> int:
    """Number of IVF lists for ``n_rows`` vectors: a power of two near IVF_LISTS_PER_SQRT * sqrt(n)."""
    target = IVF_LISTS_PER_SQRT * math.sqrt(max(n_rows, 1))
    lists = 2 ** round(math.log2(max(target, 1)))
    # never more lists than a fortieth of the rows, or k-means has too few points per centroid
    lists = min(lists, max(IVF_MIN_LISTS, 2 ** int(math.log2(max(n_rows // 40, 1)))))
    return int(min(max(lists, IVF_MIN_LISTS), IVF_MAX_LISTS))


def build_vector_index(
    vectors: np.ndarray,
    kind: str = "auto",
    *,
    flat_max_rows: int | None = None,
    approximate: str | None = None,
    hnsw_m: int | None = None,
    ef_construction: int | None = None,
    ef_search: int | None = None,
    nlist: int | None = None,
    nprobe: int | None = None,
) -> faiss.Index:
    """An inner-product index holding ``vectors`` (rows L2-normalised, float32), ready to search.

    ``kind`` is "flat" (exact), "hnsw", "ivf" or "auto" (flat up to ``flat_max_rows`` rows, else
    ``approximate``). The keyword parameters exist for the benchmark and tests; left at None they
    take the module constants (read at call time).
    """
    import faiss

    flat_max_rows = FLAT_MAX_ROWS if flat_max_rows is None else flat_max_rows
    approximate = approximate or APPROXIMATE_KIND
    hnsw_m = hnsw_m or HNSW_M
    ef_construction = ef_construction or HNSW_EF_CONSTRUCTION
    nprobe = nprobe or IVF_NPROBE

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D matrix of vectors, got shape {x.shape}")
    n, dim = x.shape
    ef_search = ef_search or hnsw_ef_search(n)
    if kind == "auto":
        kind = choose_kind(n, flat_max_rows, approximate)
    index: faiss.Index
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    elif kind == "ivf":
        lists = nlist or ivf_lists(n)
        quantizer = faiss.IndexFlatIP(dim)
        # the Python wrapper keeps ``quantizer`` alive as long as ``index``
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        if n < lists:
            raise ValueError(f"an IVF index with {lists} lists needs at least {lists} vectors, got {n}")
        sample = x
        limit = lists * IVF_TRAIN_PER_LIST
        if n > limit:
            rows = np.random.default_rng(IVF_SEED).choice(n, size=limit, replace=False)
            sample = x[np.sort(rows)]
        index.cp.seed = IVF_SEED
        index.cp.niter = IVF_KMEANS_ITERATIONS
        index.train(sample)
        index.nprobe = min(nprobe, lists)
    else:
        raise ValueError(f"unknown index kind {kind!r}; expected one of {('auto', *KINDS)}")
    if n:
        index.add(x)
    return index


def index_kind(index: faiss.Index) -> str:
    """ "flat", "hnsw" or "ivf" (for manifests); the class name for anything else."""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexFlat):
        return "flat"
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return type(index).__name__


def search_parameters(index: faiss.Index) -> dict[str, int]:
    """The search-time settings an index carries (for manifests and checks)."""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexHNSW):
        return {
            "M": int(index.hnsw.nb_neighbors(1)),  # type: ignore[attr-defined]  # faiss's stub lacks HNSW.nb_neighbors
            "efSearch": int(index.hnsw.efSearch),
            "efConstruction": int(index.hnsw.efConstruction),
        }
    if isinstance(index, faiss.IndexIVF):
        return {"nlist": int(index.nlist), "nprobe": int(index.nprobe)}
    return {}


# ---- published snapshots ------------------------------------------------------------------
#: A folder of index versions holds this pointer file naming the published one.
POINTER = "current.json"


def publish(root: Path, version: str) -> None:
    """Point readers at ``version`` (atomic rename of the pointer file)."""
    tmp = root / f".{POINTER}.tmp"
    tmp.write_text(json.dumps({"version": version}), encoding="utf-8")
    os.replace(tmp, root / POINTER)


def current_version(root: Path) -> str:
    try:
        return json.loads((root / POINTER).read_text(encoding="utf-8"))["version"]
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"nothing published under {root}; build it first (legal-triage kb build / laws build)"
        ) from exc
