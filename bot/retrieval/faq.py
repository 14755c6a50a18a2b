"""Hybrid FAQ retrieval: FAISS over normalised embeddings fused with character-n-gram BM25.

An index is built into a new folder beside the old one and published by rewriting a small
pointer file; readers load the folder the pointer names. Nobody mutates a live index.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.domain import AnswerKind, FaqEntry, FaqHit, RetrievalResult
from bot.errors import IndexMismatchError
from bot.knowledge.kb import KnowledgeBase, entry_from_dict, entry_to_dict
from bot.retrieval.embedding import Embedder, encode_all
from bot.retrieval.lexical import Bm25
from bot.retrieval.rerank import CANDIDATES, SECOND_STAGE, Reranker
from bot.retrieval.rerank import train as train_reranker
from bot.retrieval.vector_index import current_version, publish


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the fused score, chosen on the real-style dev split only.

    ``legal-triage faq eval --split dev --tune`` picks the most direct answers at >= 0.92 precision,
    then the suggestion floor that still hands >= 80% of the unanswerable questions to a person.
    With the second stage's order (``rerank.py``) on the 1,035-entry FAQ (646 dev questions, 126 of
    them unanswerable) and the served embedder (``onnx-int8``) that is a direct answer at >= 0.46
    when the best fused score is also the highest by 0.02 (the learned order may put a lower one
    first: then choices), choices down to 0.46, and a handoff below (dev: 63.6% direct, 92.9% of
    them right, 81.0% of the unanswerable handed over). The float model's scores gave 0.48 / 0.46 /
    0.0 (dev: 64.2% direct, 93.0% right, 81.0%).
    The fusion weights (0.6 dense, floor 0.80) were compared with 0.4-0.7 and floors 0.75-0.85 on
    dev: no setting was better by more than noise. Mixing in the score of the asking clauses of a
    long message lowered dev ranking (weight 0.2: top 3 -1.2 points; 0.3: rank 1 -3.7), so the whole
    message is searched as it is.
    """

    confident: float = 0.46
    suggest: float = 0.46
    margin: float = 0.02
    dense_floor: float = 0.80  # E5 cosines crowd into 0.80-0.95: rescale that band to 0-1
    dense_weight: float = 0.6


def fuse(dense: np.ndarray, lexical: np.ndarray, t: Thresholds) -> np.ndarray:
    dense_scaled = np.clip((dense - t.dense_floor) / (1.0 - t.dense_floor), 0.0, 1.0)
    return t.dense_weight * dense_scaled + (1 - t.dense_weight) * np.clip(lexical, 0.0, 1.0)


def decide(t: Thresholds, hits: list[FaqHit]) -> RetrievalResult:
    """Confident answer, a short list of suggestions, or nothing usable (a handoff)."""
    if not hits or hits[0].score < t.suggest:
        return RetrievalResult(AnswerKind.NONE, tuple(hits[:3]))
    second = hits[1].score if len(hits) > 1 else 0.0
    if hits[0].score >= t.confident and hits[0].score - second >= t.margin:
        return RetrievalResult(AnswerKind.CONFIDENT, tuple(hits[:3]))
    return RetrievalResult(AnswerKind.SUGGEST, tuple(h for h in hits[:3] if h.score >= t.suggest))


class FaqIndex:
    """An immutable searchable snapshot of the FAQ."""

    def __init__(
        self,
        entries: list[FaqEntry],
        row_entry: np.ndarray,
        row_texts: list[str],
        vectors_index,
        model_name: str,
        kb_version: str,
        thresholds: Thresholds | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.entries = entries
        self.reranker = reranker
        self.row_entry = row_entry
        self.row_texts = row_texts
        self._faiss = vectors_index
        self._bm25 = Bm25(row_texts)
        self.model_name = model_name
        self.kb_version = kb_version
        self.thresholds = thresholds or Thresholds()
        self._by_id = {e.id: e for e in entries}

    # ---- building -------------------------------------------------------------------------
    @classmethod
    def build(
        cls, kb: KnowledgeBase, embedder: Embedder, thresholds: Thresholds | None = None, progress: bool = False
    ) -> FaqIndex:
        """Embed every question and paraphrase (with a progress bar when ``progress``: the CLI)."""
        from bot.retrieval.vector_index import build_vector_index

        rows, owners = [], []
        for i, entry in enumerate(kb.entries):
            for text in entry.texts:
                rows.append(text)
                owners.append(i)
        vectors = encode_all(embedder, rows, "query", progress) if rows else np.zeros((0, embedder.dim), np.float32)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, embedder.dim)
        index = cls(
            list(kb.entries),
            np.array(owners, dtype=np.int32),
            rows,
            build_vector_index(vectors),
            embedder.name,
            kb.version,
            thresholds,
        )
        index.reranker = train_reranker(index, vectors)
        return index

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._by_id.get(entry_id)

    # ---- searching ------------------------------------------------------------------------
    def search(self, query_vector: np.ndarray, query: str, k: int = 10, rerank: bool = True) -> list[FaqHit]:
        """Rank entries for one query (its vector from the same embedder as the index): the fused first
        stage, then the second stage's order over its best ``rerank.CANDIDATES`` when there is one."""
        n_rows = len(self.row_texts)
        if n_rows == 0 or not query.strip():
            return []
        top = min(n_rows, max(50, k * 8))
        sims, ids = self._faiss.search(np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32), top)
        dense_entry = np.full(len(self.entries), -1.0, dtype=np.float32)
        for sim, row in zip(sims[0], ids[0]):
            if row >= 0:
                owner = self.row_entry[row]
                dense_entry[owner] = max(dense_entry[owner], sim)
        lex_rows = self._bm25.normalised_scores(query)
        lex_entry = np.zeros(len(self.entries), dtype=np.float32)
        np.maximum.at(lex_entry, self.row_entry, lex_rows)
        fused = fuse(dense_entry, lex_entry, self.thresholds)
        second_stage = self.reranker if rerank else None
        order = np.argsort(-fused)[: max(k, CANDIDATES) if second_stage else k]
        hits = [FaqHit(self.entries[i], float(fused[i]), float(dense_entry[i]), float(lex_entry[i])) for i in order]
        return (second_stage.order(hits) if second_stage else hits)[:k]

    def decide(self, hits: list[FaqHit]) -> RetrievalResult:
        return decide(self.thresholds, hits)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, root: Path) -> Path:
        """Write the snapshot into a new version folder under ``root`` and publish it."""
        import faiss

        from bot.retrieval.vector_index import index_kind, search_parameters

        root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        folder = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
        faiss.write_index(self._faiss, str(folder / "index.faiss"))
        with open(folder / "entries.jsonl", "w", encoding="utf-8") as fh:
            for e in self.entries:
                fh.write(json.dumps(entry_to_dict(e), ensure_ascii=False) + "\n")
        (folder / "rows.json").write_text(
            json.dumps({"entry": self.row_entry.tolist(), "text": self.row_texts}, ensure_ascii=False), encoding="utf-8"
        )
        manifest = {
            "embedding_model": self.model_name,
            "kb_version": self.kb_version,
            "dim": self._faiss.d,
            "entries": len(self.entries),
            "rows": len(self.row_texts),
            "built_at": stamp,
            "index": index_kind(self._faiss),
            "index_params": search_parameters(self._faiss),
            "second_stage": SECOND_STAGE if self.reranker is not None else None,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        if self.reranker is not None:
            self.reranker.save(folder)
        final = root / f"v{stamp}-{self.kb_version}"
        folder.rename(final)
        publish(root, final.name)
        return final

    @classmethod
    def load(cls, folder: Path, expected_model: str) -> FaqIndex:
        """Load a snapshot, refusing one built by another embedding model."""
        import faiss

        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if manifest["embedding_model"] != expected_model:
            raise IndexMismatchError(
                f"index {folder.name} was built with {manifest['embedding_model']!r}, "
                f"but the configured model is {expected_model!r}; run `legal-triage kb build`"
            )
        entries = [
            entry_from_dict(json.loads(line))
            for line in (folder / "entries.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        rows = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
        index = faiss.read_index(str(folder / "index.faiss"))
        return cls(
            entries,
            np.array(rows["entry"], dtype=np.int32),
            rows["text"],
            index,
            manifest["embedding_model"],
            manifest["kb_version"],
            reranker=Reranker.load(folder),
        )


def versions(root: Path) -> list[str]:
    """All published-able versions, oldest first."""
    return sorted(p.name for p in root.glob("v*") if (p / "manifest.json").exists())


class FaqRetriever:
    """The retrieval use case: embeds the query and searches the currently published index.

    It re-reads the pointer file at most every ``check_every`` seconds, so a newly published
    index reaches a running action server without a restart.
    """

    def __init__(self, root: Path, embedder: Embedder, check_every: float = 2.0) -> None:
        self._root = root
        self._embedder = embedder
        self._check_every = check_every
        self._lock = threading.Lock()
        self._index: FaqIndex | None = None
        self._version: str | None = None
        self._checked = 0.0

    @property
    def index(self) -> FaqIndex:
        now = time.monotonic()
        if self._index is None or now - self._checked > self._check_every:
            with self._lock:
                self._checked = now
                version = current_version(self._root)
                if version != self._version:
                    self._index = FaqIndex.load(self._root / version, self._embedder.name)
                    self._version = version
        assert self._index is not None
        return self._index

    def search(self, query: str, k: int = 10) -> list[FaqHit]:
        vector = self._embedder.encode([query], kind="query")[0]
        return self.index.search(vector, query, k)

    def answer(self, query: str) -> RetrievalResult:
        return self.index.decide(self.search(query, 10))

    def get(self, entry_id: str) -> FaqEntry | None:
        return self.index.get(entry_id)
